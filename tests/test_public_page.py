"""The public verification page behind every QR (SPEC §2 public role, §4 `GET /c/{token}`).

No login. Given a coded batch of merchant-a1 (杭州望江服饰商行, stall A-101) that rested in
WH-1 (望江集中监管仓) for market A: three coats with a GTIN (items 1–3) and two scarves
without (items 4–5).
"""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from batches.demo import MERCHANTS
from batches.models import Code

GTIN = "09506000134352"
# (username, market, name, stall, licence, phone)
MERCHANT_DATA = next(row for row in MERCHANTS if row[0] == "merchant-a1")
BUYER = {"buyer_name": "王小明", "buyer_phone": "13912345678", "buyer_kind": "consumer"}


@pytest.fixture(autouse=True)
def fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def public():
    return Client()  # nobody signed in


@pytest.fixture
def coded(flow):
    """Walked on fixed dates: disinfected and resting from 10:00 Beijing time on 1 March 2026,
    negative result on 3 March, rest over on 8 March."""
    with time_machine.travel(datetime(2026, 3, 1, 2, 0, tzinfo=UTC), tick=False) as clock:
        flow.resting()
        flow.sample()
        clock.move_to(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
        flow.result("negative", report_no="HZCDC-2026-0315")
        clock.move_to(datetime(2026, 3, 8, 2, 0, 1, tzinfo=UTC))
        from batches.tasks import sweep_due_rests

        sweep_due_rests()
        flow.post("operator-1", "move-to-storage")
        flow.post("operator-1", "issue-codes")
    return flow.number, {code.item_no: code for code in Code.objects.filter(batch__number=flow.number)}


def page(client, path, **extra):
    response = client.get(path, **extra)
    return response, response.content.decode()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_page_shows_what_a_buyer_needs_to_trust_the_goods(public, coded):
    number, codes = coded

    response, html = page(public, f"/c/{codes[4].token}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    for shown in (
        "真丝围巾",
        "180×70 cm",
        number,
        "望江集中监管仓",
        "望江服装批发市场 A 区",
        "意大利",
        "消毒日期",
        "2026-03-01",  # disinfection
        "2026-03-01 10:00 – 2026-03-08 10:00",  # the rest, Beijing time
        "2026-03-03",
        "HZCDC-2026-0315",  # negative test and its report
        "在监管仓内",
    ):  # status
        assert shown in text_of(html), shown
    assert 'lang="zh-hans"' in html and 'name="viewport"' in html


def test_the_digital_link_opens_the_same_page(public, coded):
    number, codes = coded

    response, html = page(public, f"/01/{GTIN}/10/{number}/21/{codes[2].serial}")
    by_token, html_by_token = page(public, f"/c/{codes[2].token}")

    assert response.status_code == by_token.status_code == 200
    assert "羊毛大衣" in html and "女款 M 码" in html and GTIN in html
    assert html == html_by_token


def test_the_page_shows_the_item_in_the_market_then_sold(api, flow, public, coded):
    _number, codes = coded
    flow.post("operator-1", "release", {"codes": [codes[4].token]})
    assert "在市场销售" in page(public, f"/c/{codes[4].token}")[1]

    sold = api("merchant-a1").post("/api/sales/", {"codes": [codes[4].token], **BUYER}, format="json")
    assert sold.status_code == 201, sold.content

    assert "已售出" in page(public, f"/c/{codes[4].token}")[1]


def test_no_personal_data_of_merchants_or_buyers_ever_appears(api, flow, public, coded):
    number, codes = coded
    flow.post("operator-1", "release", {"all": True})
    assert (
        api("merchant-a1")
        .post("/api/sales/", {"codes": [codes[4].token, codes[1].token], **BUYER}, format="json")
        .status_code
        == 201
    )
    _username, _market, name, stall, licence, phone = MERCHANT_DATA

    for path in (f"/c/{codes[4].token}", f"/01/{GTIN}/10/{number}/21/1", f"/c/{codes[5].token}?lang=en"):
        html = page(public, path)[1]
        for private in (
            name,
            stall,
            licence,
            phone,
            "merchant-a1",
            BUYER["buyer_name"],
            BUYER["buyer_phone"],
            BUYER["buyer_phone"][-4:],
            "consumer",
            "经营户名称",
            "摊位",
        ):
            assert private not in html, (path, private)


def test_a_recalled_batch_is_a_clear_red_warning(api, flow, public, coded):
    _number, codes = coded
    flow.post("operator-1", "release", {"codes": [codes[1].token]})
    api("merchant-a1").post("/api/sales/", {"codes": [codes[1].token], **BUYER}, format="json")
    flow.post("regulator", "recall", {"reason": "境外疫情通报"})

    for item_no in (1, 4):  # sold before the recall, and still in the warehouse
        html = page(public, f"/c/{codes[item_no].token}")[1]
        assert 'class="status danger" role="alert"' in html
        assert "该批次商品已被召回" in html
        assert "已售出" not in html and "在监管仓内" not in html
    # red: the page's style sheet (a static file, not inline, under the CSP) paints the warning
    from django.contrib.staticfiles import finders

    assert "/static/web/public.css" in html
    css = Path(finders.find("web/public.css")).read_text(encoding="utf-8")
    assert "--danger: #b3121b" in css and ".status.danger { background: var(--danger)" in css


def test_english_by_query_parameter_and_remembered_in_the_language_cookie(public, coded):
    _number, codes = coded
    path = f"/c/{codes[4].token}"

    response, html = page(public, f"{path}?lang=en")
    assert 'lang="en"' in html
    assert "Product verification" in html and "Batch number" in html and "In the supervision warehouse" in html
    assert "在监管仓内" not in html
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"

    assert "Product verification" in page(public, path)[1]  # the cookie keeps English

    back = page(public, f"{path}?lang=zh-hans")[1]
    assert "商品溯源查验" in back and "Product verification" not in back


def test_chinese_is_the_default_whatever_the_browser_prefers(coded):
    _number, codes = coded

    plain = page(Client(), f"/c/{codes[4].token}")[1]
    english_phone = page(Client(), f"/c/{codes[4].token}", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")[1]

    assert "商品溯源查验" in plain and "Product verification" not in plain
    assert "商品溯源查验" in english_phone and "Product verification" not in english_phone


@pytest.mark.parametrize(
    "path",
    [
        "/c/AAAAAAAAAAAAAAAAAAAAAAAA",
        "/c/short",
        f"/01/{GTIN}/10/NO-SUCH-BATCH/21/1",
    ],
)
def test_an_unknown_code_is_a_404_page(public, coded, path):
    response, html = page(public, path)

    assert response.status_code == 404
    assert "未找到该追溯码" in html and "<html" in html


def test_a_digital_link_with_another_gtin_is_a_404_page(public, coded):
    number, _codes = coded

    assert page(public, f"/01/04006381333931/10/{number}/21/1")[0].status_code == 404


def test_the_page_is_never_served_stale_nor_indexed(public, coded):
    _number, codes = coded

    response = page(public, f"/c/{codes[4].token}")[0]

    # A browser may keep it but must ask again every time (then 304 if nothing changed).
    assert response["Cache-Control"] == "no-cache"
    assert "noindex" in response["X-Robots-Tag"]


def test_asking_again_with_the_etag_or_the_date_is_304_without_a_body(public, coded):
    _number, codes = coded
    path = f"/c/{codes[4].token}"
    first = public.get(path)

    again = public.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    by_date = public.get(path, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    other = public.get(f"/c/{codes[5].token}", HTTP_IF_NONE_MATCH=first["ETag"])

    assert first.status_code == 200 and first["ETag"].startswith('"')
    assert again.status_code == by_date.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == "no-cache"
    assert other.status_code == 200 and other["ETag"] != first["ETag"]


def test_the_date_is_the_batchs_last_change_and_a_later_change_answers_the_old_date(api, flow, public, coded):
    _number, codes = coded
    path = f"/c/{codes[4].token}"

    coded_page = public.get(path)
    flow.post("operator-1", "release", {"codes": [codes[4].token]})
    released = public.get(path, HTTP_IF_MODIFIED_SINCE=coded_page["Last-Modified"])

    # Codes were issued at 10:00:01 Beijing time on 8 March (the fixture's clock).
    assert coded_page["Last-Modified"] == "Sun, 08 Mar 2026 02:00:01 GMT"
    assert released.status_code == 200 and "在市场销售" in released.content.decode()


def test_a_sale_changes_the_page_and_its_etag_at_once(api, flow, public, coded):
    _number, codes = coded
    flow.post("operator-1", "release", {"codes": [codes[4].token]})
    path = f"/c/{codes[4].token}"
    before = public.get(path)
    english = Client().get(f"{path}?lang=en")  # a phone of its own: the switch sets a cookie
    assert public.get(path, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304

    sold = api("merchant-a1").post("/api/sales/", {"codes": [codes[4].token], **BUYER}, format="json")
    assert sold.status_code == 201, sold.content

    after = public.get(path, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and "已售出" in after.content.decode()
    assert after["ETag"] != before["ETag"]
    assert "Sold" in Client().get(f"{path}?lang=en").content.decode() and "Sold" not in english.content.decode()


def test_the_kept_page_is_not_taken_for_current_once_its_version_is_gone(public, coded):
    from warehouse.public import _version_key

    _number, codes = coded
    path = f"/c/{codes[4].token}"
    assert "在监管仓内" in page(public, path)[1]
    Code.objects.filter(pk=codes[4].pk).update(status="released")  # no event: as if written behind our back
    cache.delete(_version_key(codes[4].batch_id))  # and the version evicted

    assert "在市场销售" in page(public, path)[1]


def test_a_batch_just_changed_has_its_pages_built_afresh_until_the_change_has_settled(flow, public, coded):
    from warehouse.public import UNSETTLED_SECONDS

    _number, codes = coded
    path = f"/c/{codes[4].token}"
    with time_machine.travel(timezone.now(), tick=False) as clock:
        flow.post("operator-1", "release", {"codes": [codes[5].token]})  # an event of the batch
        assert "在监管仓内" in page(public, path)[1]
        # Written behind the cache's back (no event): the page read a moment ago was not kept
        Code.objects.filter(pk=codes[4].pk).update(status="released")
        assert "在市场销售" in page(public, path)[1]

        clock.shift(UNSETTLED_SECONDS + 1)  # settled: the next page built is kept
        assert "在市场销售" in page(public, path)[1]
        Code.objects.filter(pk=codes[4].pk).update(status="in_warehouse")
        assert "在市场销售" in page(public, path)[1]


def test_too_many_lookups_from_one_address_are_refused(public, coded, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public_verify": "3/min"}}
    _number, codes = coded
    token = codes[4].token

    answers = [
        public.get(f"/c/{token}", REMOTE_ADDR="203.0.113.7").status_code,
        public.get("/c/AAAAAAAAAAAAAAAAAAAAAAAA", REMOTE_ADDR="203.0.113.7").status_code,  # misses count too
        public.get(f"/c/{token}", REMOTE_ADDR="203.0.113.7").status_code,
    ]
    refused = public.get(f"/c/{token}", REMOTE_ADDR="203.0.113.7")
    spoofed = public.get(f"/c/{token}", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert answers == [200, 404, 200]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "查询过于频繁" in refused.content.decode()
    assert spoofed.status_code == 429  # a client's own X-Forwarded-For does not buy a new budget
    assert public.get(f"/c/{token}", REMOTE_ADDR="203.0.113.8").status_code == 200  # another address


def test_behind_our_own_proxy_the_forwarded_address_is_throttled(public, coded, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public_verify": "1/min"}}
    settings.PUBLIC_VERIFY_TRUSTED_PROXIES = 1
    _number, codes = coded
    path = f"/c/{codes[4].token}"

    first = public.get(path, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7").status_code
    again = public.get(path, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="2.2.2.2, 203.0.113.7").status_code
    other = public.get(path, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code

    assert (first, again, other) == (200, 429, 200)


# --- the shared cache is away -----------------------------------------------------------------


@pytest.fixture
def cache_away():
    """The shared cache points at a closed port, as when Redis is down (restored before the
    fresh_throttle fixture clears the real cache)."""
    from django.test import override_settings

    from warehouse.public import LOCAL_COUNTS, PublicVerifyThrottle

    LOCAL_COUNTS.clear()
    PublicVerifyThrottle.shared_down_until = 0.0
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "config.cache.RedisCache",
                "LOCATION": "redis://127.0.0.1:1/0",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
    ):
        yield
    LOCAL_COUNTS.clear()
    PublicVerifyThrottle.shared_down_until = 0.0


def test_the_page_answers_when_the_cache_is_unreachable(public, coded, cache_away, caplog):
    from django.core.cache import cache as shared

    _number, codes = coded
    with pytest.raises(Exception):  # noqa: B017 — the point: the shared cache really is away
        shared.get("anything")

    response, html = page(public, f"/c/{codes[4].token}")

    assert response.status_code == 200 and "真丝围巾" in html
    assert page(public, f"/c/{'A' * 24}")[0].status_code == 404
    assert "shared cache unreachable" in caplog.text


def test_without_the_cache_the_page_is_still_limited_per_address(public, coded, cache_away, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public_verify": "3/min"}}
    _number, codes = coded
    path = f"/c/{codes[4].token}"

    answers = [public.get(path, REMOTE_ADDR="203.0.113.7").status_code for _ in range(4)]
    other = public.get(path, REMOTE_ADDR="203.0.113.8").status_code

    # counted in the process while the cache is away: enumeration stays bounded
    assert answers == [200, 200, 200, 429] and other == 200
