"""Sign-in, each role's home and menu, the order 'login → 404 → 403', the language switch
and the completeness of the zh-hans catalog."""

import ast
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

from batches.models import Batch, Status
from tests.test_web_support import text_of

PAGES_BY_ROLE = {
    "merchant-a1": ["/", "/batches/", "/batches/new/", "/sales/", "/sales/new/", "/alerts/"],
    "reviewer-a": ["/", "/batches/", "/review/", "/alerts/"],
    "operator-1": ["/scan/", "/warehouse/board/", "/batches/", "/alerts/"],
    "regulator": ["/", "/dashboard/", "/trace/", "/alerts/", "/batches/", "/warehouse/board/?warehouse=WH-2"],
}
ROLE_ONLY = {
    "/batches/new/": "merchant-a1",
    "/sales/": "merchant-a1",
    "/sales/new/": "merchant-a1",
    "/review/": "reviewer-a",
    "/scan/": "operator-1",
    "/dashboard/": "regulator",
    "/trace/": "regulator",
}  # /alerts/: every role lists its own notices there (docs/web.md "Notices and banners")


def test_sign_in_lands_on_the_role_home_and_sign_out_ends_the_session(web, client):
    # Given the login page, in Chinese by default
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and "登录" in text_of(page)
    # When the merchant signs in
    answer = client.post("/accounts/login/", {"username": "merchant-a1", "password": "test-pass-123"})
    assert answer.status_code == 302 and answer["Location"] == "/"
    home = client.get("/")
    assert "我的摊位" in text_of(home) and "申报批次" in text_of(home)
    # Then signing out (POST) returns to the login page and the pages ask to sign in again
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/")["Location"].startswith("/accounts/login/?next=/")


def test_a_wrong_password_is_said_plainly_and_the_username_is_kept(web, client):
    answer = client.post("/accounts/login/", {"username": "merchant-a1", "password": "nope"})
    assert answer.status_code == 200
    assert "merchant-a1" in answer.content.decode()
    assert "用户名或密码不正确，请检查后重试。" in text_of(answer)  # plain words, not Django's stock sentence


@pytest.mark.parametrize("user", list(PAGES_BY_ROLE))
def test_each_role_sees_its_pages_and_its_own_menu(web, user):
    for url in PAGES_BY_ROLE[user]:
        answer = web(user).get(url, follow=True)
        assert answer.status_code == 200, (user, url)
    menu = [item["key"] for item in web(user).get(PAGES_BY_ROLE[user][0], follow=True).context["menu"]]
    expected = {
        "merchant-a1": ["home", "declare", "batches", "sell", "sales"],
        "reviewer-a": ["home", "queue", "batches"],
        "operator-1": ["scan", "board", "batches", "alerts"],
        "regulator": ["home", "trace", "batches", "alerts"],
    }[user]
    assert menu == expected


@pytest.mark.parametrize("url", sorted({u for urls in PAGES_BY_ROLE.values() for u in urls}))
def test_anonymous_visitors_are_sent_to_sign_in(web, url):
    answer = web(None).get(url)
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url,owner", sorted(ROLE_ONLY.items()))
def test_another_role_gets_403_on_a_role_page(web, url, owner):
    for user in PAGES_BY_ROLE:
        if user != owner:
            assert web(user).get(url).status_code == 403, (user, url)


def test_a_batch_outside_the_scope_is_404_and_an_action_of_another_role_is_403(web, flow):
    flow.submitted()  # merchant-a1's batch in market A
    number = flow.number
    # Outside the scope: another merchant, another market's reviewer, a warehouse not assigned
    for user in ("merchant-a2", "reviewer-b", "operator-1"):
        assert web(user).get(f"/batches/{number}/").status_code == 404, user
        assert web(user).post(f"/batches/{number}/do/approve/", {"approve-warehouse": "WH-1"}).status_code == 404
    # In scope, but the role may not: the merchant approving its own batch, the regulator submitting
    assert web("merchant-a1").post(f"/batches/{number}/do/approve/", {"approve-warehouse": "WH-1"}).status_code == 403
    assert web("regulator").post(f"/batches/{number}/do/submit/").status_code == 403
    # An action that does not exist is 404, a GET on an action 405
    assert web("reviewer-a").post(f"/batches/{number}/do/teleport/").status_code == 404
    assert web("reviewer-a").get(f"/batches/{number}/do/approve/").status_code == 405


def test_chinese_is_the_default_and_english_is_one_switch_away(web):
    merchant = web("merchant-a1")
    assert "申报批次" in text_of(merchant.get("/batches/new/"))
    switched = merchant.post("/i18n/setlang/", {"language": "en", "next": "/batches/new/"})
    assert switched.status_code == 302 and switched["Location"] == "/batches/new/"
    english = text_of(merchant.get("/batches/new/"))
    assert "Declare a batch" in english and "Customs declaration no." in english and "申报批次" not in english
    merchant.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "报关单号" in text_of(merchant.get("/batches/new/"))


def test_times_are_shown_in_shanghai_time(web, flow):
    flow.declare()
    from django.utils import timezone

    from batches.models import Batch

    batch = Batch.objects.get(number=flow.number)
    event = batch.events.get()
    shown = timezone.localtime(event.at, timezone=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    page = web("merchant-a1").get(f"/batches/{flow.number}/").content.decode()
    assert shown.strftime("%Y-%m-%d %H:%M:%S") in page
    assert "+08:00" in page  # machine-readable <time datetime> carries the offset


# --- the zh-hans catalog ------------------------------------------------------------------

BASE_DIR = Path(settings.BASE_DIR)
CATALOG = BASE_DIR / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
APPS = ("batches", "markets", "warehouse", "config")
TRANSLATE_TAG = re.compile(r"""{%\s*translate\s+(["'])(.*?)\1(?:\s+context\s+(["'])(.*?)\3)?""")
UNDERSCORE = re.compile(r"""\b_\((["'])(.*?)\1\)""")
BLOCK = re.compile(r"{%\s*blocktranslate(?:\s[^%]*)?%}(.*?){%\s*(?:plural|endblocktranslate)\s*%}", re.S)
GETTEXT = {"_", "_lazy", "gettext", "gettext_lazy", "gettext_noop", "ngettext", "ngettext_lazy"}
PGETTEXT = {"pgettext", "pgettext_lazy"}
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def source_strings() -> set[tuple[str, str]]:
    """(context, msgid) of every string marked for translation in the templates and the code."""
    found = set()
    for path in (BASE_DIR / "templates").rglob("*.html"):
        text = path.read_text()
        found.update((m[3], m[1]) for m in TRANSLATE_TAG.findall(text))
        found.update(("", m[1]) for m in UNDERSCORE.findall(text))
        for block in BLOCK.findall(text):
            found.add(("", re.sub(r"{{\s*(\w+)\s*}}", r"%(\1)s", block)))
    for app in APPS:
        for path in (BASE_DIR / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
                    continue
                name, args = node.func.id, [_literal(arg) for arg in node.args]
                if name in GETTEXT and args[0]:
                    found.add(("", args[0]))
                    if name.startswith("ngettext") and len(args) > 1 and args[1]:
                        found.add(("", args[1]))
                elif name in PGETTEXT and len(args) > 1 and args[0] and args[1]:
                    found.add((args[0], args[1]))
    return {(context, s) for context, s in found if s.strip()}


def test_the_zh_hans_catalog_is_complete_and_compiled():
    catalog = polib.pofile(str(CATALOG))
    assert not catalog.metadata_is_fuzzy
    untranslated = [entry.msgid for entry in catalog if not entry.translated()]
    assert untranslated == []
    assert [entry.msgid for entry in catalog if "fuzzy" in entry.flags] == []
    # Every string of the pages, the API, the domain and the admin is in the catalog ...
    known = {(entry.msgctxt or "", entry.msgid) for entry in catalog}
    known |= {(entry.msgctxt or "", entry.msgid_plural) for entry in catalog if entry.msgid_plural}
    sources = source_strings()
    assert len(sources) > 400
    assert sorted(sources - known) == []
    # ... and the compiled catalog the server reads is not older than the .po
    compiled = CATALOG.with_suffix(".mo")
    assert compiled.exists() and compiled.stat().st_mtime >= CATALOG.stat().st_mtime - 1
    mo = polib.mofile(str(compiled))
    assert {e.msgid for e in mo if not e.msgid_plural} >= {e.msgid for e in catalog if not e.msgid_plural}


def test_messages_have_one_source_language_english_and_one_catalog():
    # English is the source everywhere (docs/architecture.md, "Messages"); Chinese lives in the zh-hans catalog only.
    assert sorted(s for _context, s in source_strings() if CHINESE.search(s)) == []
    assert [entry.msgid for entry in polib.pofile(str(CATALOG)) if CHINESE.search(entry.msgid)] == []
    catalogs = [BASE_DIR / "locale", *(BASE_DIR / app / "locale" for app in APPS)]
    assert sorted(str(p.relative_to(BASE_DIR)) for d in catalogs for p in d.rglob("*.po")) == [
        "locale/zh_Hans/LC_MESSAGES/django.po"
    ]


def test_the_catalog_keeps_every_placeholder():
    for entry in polib.pofile(str(CATALOG)):
        if entry.msgid_plural:
            continue
        placeholders = set(re.findall(r"%\(\w+\)[sd]|\{\w+\}", entry.msgid))
        assert placeholders == set(re.findall(r"%\(\w+\)[sd]|\{\w+\}", entry.msgstr)), entry.msgid


# --- the `next` target of a web action: a local path only -------------------------------------


@pytest.mark.parametrize(
    "target", ["review", "web:batch-list", "//evil.example/x", "https://evil.example/", "javascript:alert(1)"]
)
def test_an_action_never_redirects_to_a_next_that_is_not_a_local_path(web, flow, target):
    flow.declare()
    answer = web("merchant-a1").post(f"/batches/{flow.number}/do/submit/", {"next": target})
    assert answer.status_code == 302 and answer["Location"] == f"/batches/{flow.number}/"
    assert Batch.objects.get(number=flow.number).status == Status.SUBMITTED


def test_an_action_returns_to_a_local_next(web, flow):
    flow.declare()
    answer = web("merchant-a1").post(f"/batches/{flow.number}/do/submit/", {"next": "/batches/?status=submitted"})
    assert answer.status_code == 302 and answer["Location"] == "/batches/?status=submitted"
