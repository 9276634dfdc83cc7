"""End-to-end tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright's sync API runs an event loop in this thread, so Django's async-safety check would
refuse the ORM calls the tests make between browser steps: DJANGO_ALLOW_ASYNC_UNSAFE is set
while the browser runs, and only then (the deployment check of other tests must not see it).
The browser is the system's (`apt-get install chromium`); nothing is downloaded.
`people(username)` opens one person's browser context, signed in with PASSWORD on demand.
"""

import os
from pathlib import Path

import pytest

from batches.demo import create_demo_organisations
from tests.conftest import PASSWORD as DEMO_PASSWORD

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# The demo world is made once with the test database (tests/conftest.py), with its password.
PASSWORD = DEMO_PASSWORD
AXE = Path(__file__).resolve().parents[1] / "data" / "axe" / "axe.min.js"
# Records the beeps and buzzes of the scan lists (app.js `signal`): the page's own calls, counted.
SIGNALS = """
window.__signals = [];
Object.defineProperty(Navigator.prototype, "vibrate", { configurable: true,
  value: function (pattern) { window.__signals.push("vibrate:" + JSON.stringify(pattern)); return true; } });
if (window.AudioContext) {
  const make = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () { window.__signals.push("beep"); return make.call(this); };
}
"""
REST_SECONDS = 6  # long enough for sample and result on a busy CI machine, short enough to wait for


@pytest.fixture
def chromium(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # ORM calls made while Playwright's loop ran opened a connection of their own context;
        # close it here, or PostgreSQL refuses to drop the test database at the end.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class Person:
    """One person at one device: a browser context (its own cookies) and a page."""

    def __init__(self, chromium, base_url, shots, username, viewport, label=None):
        self.context = chromium.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.page.on("dialog", lambda dialog: dialog.accept())
        # Chromium reports what the Content-Security-Policy blocked on the console.
        self.csp_reports = []
        self.page.on(
            "console",
            lambda message: (
                self.csp_reports.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        self.base_url, self.shots, self.username = base_url, shots, username
        self.label = label or username
        self.count = 0

    def go(self, path):
        self.page.goto(self.base_url + path)

    def sign_in(self):
        self.go("/accounts/login/")
        self.shot("login")
        self.page.fill("#id_username", self.username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("main form button[type=submit]")
        self.page.wait_for_load_state()
        assert "/accounts/login/" not in self.page.url

    def shot(self, name, *, both=True):
        """This page in Chinese, then the same page in English (the language cookie that the
        switch sets), then back to Chinese. `both=False` keeps what is typed (no reload)."""
        self.count += 1
        stem = f"{self.label}-{self.count:02d}-{name}"
        self.page.screenshot(path=str(self.shots / f"zh-{stem}.png"), full_page=True)
        if not both:
            return
        self.language("en")
        self.page.reload()
        self.page.screenshot(path=str(self.shots / f"en-{stem}.png"), full_page=True)
        self.language("zh-hans")
        self.page.reload()

    def language(self, code):
        self.context.add_cookies([{"name": "django_language", "value": code, "url": self.base_url}])

    def submit(self, selector):
        """Click what sends a form or follows a link, and wait for the next page."""
        with self.page.expect_navigation():
            self.page.click(selector)

    def text(self):
        return self.page.inner_text("main")

    def wide(self):
        """How far the page scrolls sideways (0 when nothing is wider than the screen)."""
        return self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")

    def axe(self):
        """axe-core's critical and serious violations on this page (axe is loaded into every
        page of the context by `with_axe`, through the DevTools protocol, not a <script>)."""
        self.page.wait_for_function("() => window.axe !== undefined")
        found = self.page.evaluate(
            "async () => { const r = await axe.run(document); return {passes: r.passes.length, bad: r.violations"
            ".filter(v => v.impact === 'critical' || v.impact === 'serious')"
            ".map(v => v.id + ' ' + v.impact + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))}; }"
        )
        assert found["passes"] > 10  # axe really checked the page
        return found["bad"]

    def with_axe(self):
        self.context.add_init_script(path=str(AXE))
        return self

    def with_signals(self):
        self.context.add_init_script(SIGNALS)
        return self

    def signals(self):
        return self.page.evaluate("window.__signals")

    def flash(self):
        return " ".join(self.page.locator(".messages").all_inner_texts())

    def close(self):
        self.context.close()


@pytest.fixture
def people(chromium, live_server, screenshots, transactional_db, settings):
    settings.REST_PERIOD_SECONDS = REST_SECONDS
    create_demo_organisations(password=PASSWORD)
    opened = []

    def person(username, viewport=PHONE, label=None):
        opened.append(Person(chromium, live_server.url, screenshots, username, viewport, label))
        return opened[-1]

    yield person
    for one in opened:
        one.close()
    # No page of any test may trip the Content-Security-Policy (no inline script or style).
    assert [report for one in opened for report in one.csp_reports] == []
