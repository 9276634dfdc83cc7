"""axe-core (tests/data/axe, a pinned copy from the npm registry) on every page of every role, in
the states that matter (tests/e2e/states.py: an incident with buyers, a sealed, a recalled and a
quarantined batch, sold items, forms with errors, error pages, the public page in each state), on
two phones (390 × 844, 360 × 740) and a desktop (1366 × 768):

- no critical and no serious violation;
- nothing wider than the screen (the page never scrolls sideways);
- on the phones, every touch target at least 44 × 44 px (buttons, button-like links, the menu's
  links, file inputs, selects, text inputs, checkboxes and radios with their labels, the
  summaries that open a form);
- on the desktop, the incident's buyers table shows its last column without scrolling.
"""

import pytest

from batches.models import CodeStatus

from .conftest import PASSWORD
from .states import build_world

VIEWPORTS = {
    "phone-390": {"width": 390, "height": 844},
    "phone-360": {"width": 360, "height": 740},
    "desktop-1366": {"width": 1366, "height": 768},
}
TARGET = 44  # px, WCAG 2.5.5 and docs/web.md "Phone ergonomics"

# Every visible control a finger has to hit, measured where it is drawn, with every <details>
# opened so that the forms they hold are measured too. A checkbox or radio counts with its label
# (the label takes the tap too); text links inside sentences are exempt (WCAG 2.5.5 "inline"),
# links in a <nav> (the menu, the public page's languages) and button-like ones are not.
SMALL_TARGETS = """
(min) => {
  document.querySelectorAll('details:not([open])').forEach((d) => { d.open = true; });  // their forms too
  const targets = 'button, a.btn, nav a, summary, select, input[type=file], input[type=checkbox], '
    + 'input[type=radio], input[type=text], input[type=search], input[type=tel], input[type=number], '
    + 'input[type=password], input[type=date], input[type=submit]';
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden'
      && el.closest('[hidden]') === null;
  };
  const box = (el) => {
    const r = el.getBoundingClientRect();
    if (el.type !== 'checkbox' && el.type !== 'radio') return r;
    const label = el.closest('label') || (el.id && document.querySelector('label[for="' + el.id + '"]'));
    if (!label) return r;
    const l = label.getBoundingClientRect();
    const left = Math.min(r.left, l.left), top = Math.min(r.top, l.top);
    return {width: Math.max(r.right, l.right) - left, height: Math.max(r.bottom, l.bottom) - top};
  };
  const name = (el) => el.tagName.toLowerCase() + (el.type && el.tagName === 'INPUT' ? '[' + el.type + ']' : '')
    + (el.id ? '#' + el.id : '')
    + ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 24) + '"';
  return [...document.querySelectorAll(targets)].filter(shown).map((el) => [el, box(el)])
    .filter(([, r]) => r.width < min - 0.5 || r.height < min - 0.5)
    .map(([el, r]) => name(el) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
}
"""
# The buyers table of the incident page: how far its last column's right edge lies beyond what
# its scrolling box shows (0 or less: visible without scrolling).
BUYERS_LAST_COLUMN = """
() => {
  const wrap = document.querySelector('[data-testid=incident-buyers]');
  const last = wrap.querySelector('thead th:last-child');
  return last.getBoundingClientRect().right - wrap.getBoundingClientRect().right;
}
"""


def scan_a_sold_code(world):
    """The sale page with a refused scan in its list (a code that is sold already)."""
    token = world.token(world.sold, CodeStatus.SOLD)

    def act(person):
        person.go("/sales/new/")
        person.page.fill("#id_scan", token)
        person.page.press("#id_scan", "Enter")
        person.page.wait_for_selector("[data-scan-rows] li .scan-problem")

    return ("sale-with-a-refused-scan", act)


def refused_sale(world):
    """The sale page as the server answers a sale it refused (problems per code, field errors)."""
    token = world.token(world.sold, CodeStatus.SOLD)

    def act(person):
        person.go("/sales/new/")
        person.page.fill("#id_scan", token)
        person.page.press("#id_scan", "Enter")
        person.page.wait_for_selector("[data-scan-rows] li")
        person.submit("[data-testid=sale-submit]")
        person.page.wait_for_selector(".errorlist, .form-errors:not([hidden])")

    return ("sale-refused", act)


def offline_sale(world):
    """The sale page with no network: the sale waits on the device, the note says so."""
    token = world.token(world.sold, CodeStatus.RELEASED)

    def act(person):
        person.go("/sales/new/")
        person.context.set_offline(True)  # back online after the checks
        person.page.fill("#id_scan", token)
        person.page.press("#id_scan", "Enter")
        person.page.wait_for_selector("[data-scan-rows] li")
        person.page.fill("#id_buyer_name", "王女士")
        person.page.fill("#id_buyer_phone", "13912345678")
        person.page.click("[data-testid=sale-submit]")
        person.page.wait_for_selector("[data-offline-note]:not([hidden])")

    return ("sale-waiting-offline", act)


def wrong_password(person):
    person.go("/accounts/login/")
    person.page.fill("#id_username", "merchant-a1")
    person.page.fill("#id_password", "not-the-password")
    person.submit("main form button[type=submit]")


def trace_search(text):
    """The trace's results for `text` (the search is a POST: phones stay out of URLs)."""

    def act(person):
        person.go("/trace/")
        person.page.fill("#id_trace_q", text)
        person.submit("form[role=search] button[type=submit]")

    return act


def empty_declaration(person):
    person.go("/batches/new/")
    person.page.locator("main form button[type=submit]").last.click()
    person.page.wait_for_load_state()


def expired_form(person):
    """The page of a form sent with a stale CSRF token (mostly an expired session)."""
    person.go("/sales/")
    person.context.clear_cookies(name="csrftoken")
    person.page.locator("details summary").first.click()
    person.page.locator("details input[name=reason]").first.fill("录错了")
    person.submit("details button[type=submit]")
    person.page.wait_for_selector("[data-error-page]")


def pages(world):
    """Every page of every role, by person, in the states of `world`; an entry is a path or a
    (name, action) that brings the page into a state."""
    sold = world.sold
    sold_code = world.token(sold, CodeStatus.SOLD)
    released_code = world.token(sold, CodeStatus.RELEASED)
    return {
        None: [
            "/accounts/login/",
            ("sign-in-refused", wrong_password),
            f"/c/{world.token(sold, CodeStatus.IN_WAREHOUSE)}",
            f"/c/{released_code}",
            f"/c/{sold_code}",
            f"/c/{world.token(world.sealed, CodeStatus.SOLD)}",
            f"/c/{world.token(world.sealed, CodeStatus.RELEASED)}",
            f"/c/{world.token(world.recalled, CodeStatus.RECALLED)}",
            f"/c/{world.token(world.recalled, CodeStatus.SOLD)}",
            "/c/AAAAAAAAAAAAAAAAAAAAAAAAAA",  # no such code
            "/batches/",  # signs in first
            "/no-such-page/",
        ],
        "merchant-a1": [
            "/",
            "/batches/new/",
            ("declaration-with-errors", empty_declaration),
            "/batches/",
            f"/batches/{sold.number}/",
            f"/batches/{world.recalled.number}/",
            f"/batches/{world.draft.number}/",
            f"/batches/{world.draft.number}/edit/",
            "/sales/new/",
            scan_a_sold_code(world),
            refused_sale(world),
            offline_sale(world),
            "/sales/",
            ("session-expired-form", expired_form),
            "/batches/NO-SUCH/",
            "/review/",  # 403: not a reviewer
        ],
        "merchant-b1": [
            "/",
            "/batches/",
            f"/batches/{world.sealed.number}/",
            f"/batches/{world.positive.number}/",
            "/sales/",
        ],
        "reviewer-a": [
            "/",
            "/review/",
            "/batches/",
            f"/batches/{world.submitted.number}/",
            f"/batches/{world.approved.number}/",
        ],
        "operator-1": [
            "/",
            "/scan/",
            f"/scan/?q={world.approved.number}",
            f"/scan/?q={world.resting.number}",
            f"/scan/?q={sold.number}",
            f"/scan/?q={released_code}",
            "/scan/?q=NO-SUCH-THING",
            "/warehouse/board/",
            "/batches/",
            f"/batches/{world.approved.number}/",
            f"/batches/{world.pre_storage.number}/",
            f"/batches/{world.resting.number}/",
            f"/batches/{world.positive.number}/",
            f"/batches/{world.sealed.number}/",
            f"/batches/{sold.number}/",
            f"/warehouse/release/{sold.number}/",
        ],
        "operator-2": [f"/batches/{world.discrepancy.number}/"],
        "regulator": [
            "/",
            "/dashboard/",
            "/alerts/",
            "/incidents/",
            f"/incidents/{world.incident.pk}/",
            "/trace/",
            ("trace-by-buyer-phone", trace_search("13912345678")),
            f"/trace/codes/{sold_code}/",
            f"/trace/batches/{sold.number}/",
            f"/trace/batches/{world.sealed.number}/",
            f"/trace/batches/{world.recalled.number}/",
            f"/trace/merchants/{sold.merchant_id}/",
            "/batches/",
            f"/batches/{world.resting.number}/",
            f"/batches/{world.positive.number}/",
            f"/batches/{world.sealed.number}/",
            f"/batches/{world.recalled.number}/",
            "/warehouse/board/?warehouse=WH-1",
        ],
        "regulator-city": ["/", "/incidents/"],
    }


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", list(VIEWPORTS.values()), ids=list(VIEWPORTS))
def test_every_page_and_state_is_accessible_fits_the_screen_and_has_big_enough_targets(people, viewport):
    world = build_world(PASSWORD)
    phone = viewport["width"] < 640
    violations, overflow, small = {}, {}, {}
    for username, entries in pages(world).items():
        person = people(username or "nobody", viewport, label=f"axe-{username or 'public'}").with_axe()
        if username is not None:
            person.sign_in()
        for entry in entries:
            name, act = entry if isinstance(entry, tuple) else (entry, lambda person, path=entry: person.go(path))
            act(person)
            where = (username, name)
            violations[where] = person.axe()
            overflow[where] = person.page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            if phone:
                small[where] = person.page.evaluate(SMALL_TARGETS, TARGET)
            person.context.set_offline(False)
            if name == f"/incidents/{world.incident.pk}/":
                assert "Alexandra Konstantinopoulou" in person.text()
                if not phone:
                    assert person.page.evaluate(BUYERS_LAST_COLUMN) <= 0
    problems = report(violations) + report({k: [f"{px} px too wide"] for k, px in overflow.items() if px > 0})
    problems += report({where: [f"touch target {one}" for one in found] for where, found in small.items()})
    assert not problems, "\n" + "\n".join(problems)


def report(found):
    """One line per page and problem, so that a failure names them all."""
    return [f"{who or 'public'} {page}: {problem}" for (who, page), problems in found.items() for problem in problems]
