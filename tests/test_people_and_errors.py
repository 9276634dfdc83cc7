"""People by name, organisations by their bureau, exports named after the merchant, EPCIS linked
from the batch trace, and API errors in the interface's language that name no model (issue 19:
point 5 and items of point 8)."""

from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from batches.actors import actor_for
from batches.demo import MERCHANT_PEOPLE, MERCHANTS, OPERATORS, REVIEWERS, create_demo_organisations
from batches.incident_report import timeline_rows
from batches.tasks import sweep_due_rests
from markets import exports
from markets.models import Merchant, bureau_name, city_of, person_name
from tests.conftest import PASSWORD
from tests.test_incidents import world_with_incident  # noqa: F401  (a fixture)

DEMO_USERNAMES = (
    [row[0] for row in MERCHANTS]
    + [row[0] for row in REVIEWERS]
    + [row[0] for row in OPERATORS]
    + ["regulator", "regulator-2", "regulator-city"]
)


def user(username):
    return get_user_model().objects.get(username=username)


# --- people by name ---------------------------------------------------------------------------


def test_every_demo_person_has_a_chinese_name_of_their_own(world):
    for username in DEMO_USERNAMES:
        name = person_name(user(username))
        assert name != username and "\u4e00" <= name[0] <= "\u9fff", username
    merchant = Merchant.objects.select_related("user").get(user__username="merchant-b1")
    assert person_name(merchant.user) == "黄志强" and merchant.name == "杭州北欧针织贸易部"


def test_an_older_demo_world_gets_its_names_and_keeps_usernames_and_passwords(world):
    get_user_model().objects.filter(username__in=["operator-1", "regulator"]).update(first_name="", last_name="")
    get_user_model().objects.filter(username="merchant-b1").update(first_name="杭州北欧针织贸易部")
    get_user_model().objects.filter(username="reviewer-a").update(first_name="张三")  # renamed by an admin

    assert create_demo_organisations(password="another-password") == 0

    assert person_name(user("operator-1")) == "王建国" and person_name(user("regulator")) == "陈静"
    assert person_name(user("merchant-b1")) == MERCHANT_PEOPLE["merchant-b1"]
    assert person_name(user("reviewer-a")) == "张三"  # a name someone chose is kept
    assert all(user(name).check_password(PASSWORD) for name in ("operator-1", "regulator", "merchant-b1"))


def test_a_person_without_a_name_is_shown_by_login_id():
    assert person_name(SimpleNamespace(first_name="", last_name="", get_username=lambda: "op-9")) == "op-9"
    assert person_name(SimpleNamespace(first_name="王建国", last_name="", get_username=lambda: "op-9")) == "王建国"


def test_the_incident_page_and_its_report_name_people_not_login_ids(web, world_with_incident):  # noqa: F811
    incident = world_with_incident["incident"]

    html = web("regulator").get(f"/incidents/{incident.pk}/").content.decode()

    timeline = html[html.index('class="timeline"') :]
    assert "陈建华" in timeline and "李敏" in timeline and "王建国" in timeline
    assert not any(username in timeline for username in DEMO_USERNAMES)
    rows = timeline_rows(incident, actor_for(user("regulator")))
    by = {row[3] for row in rows}
    assert {"陈建华", "李敏", "王建国"} <= by and not by & set(DEMO_USERNAMES)


def test_the_api_names_people_beside_the_login_ids_it_keeps(flow, api):
    flow.disinfected()

    events = api("regulator").get(f"/api/batches/{flow.number}/events/").json()["results"]
    assert [(e["actor"], e["actor_name"]) for e in events] == [
        ("merchant-a1", "陈建华"),
        ("merchant-a1", "陈建华"),
        ("reviewer-a", "李敏"),
        ("operator-1", "王建国"),
        ("operator-1", "王建国"),
    ]
    disinfection = flow.detail("regulator")["disinfections"][0]
    assert (disinfection["performed_by"], disinfection["performed_by_name"]) == ("operator-1", "王建国")


def test_names_cost_no_query_per_event(flow, api):
    def events_read():
        with CaptureQueriesContext(connection) as queries:
            body = api("regulator").get(f"/api/batches/{flow.number}/events/").json()
        return body["count"], len(queries)

    flow.pre_storage()
    events_read()  # the client's first request reads what later ones find cached
    few, few_queries = events_read()
    flow.post("operator-1", "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, 201)
    flow.post("operator-1", "move-to-resting")
    flow.sample("S1")
    more, more_queries = events_read()

    assert more > few and more_queries == few_queries


def test_a_system_event_has_no_name(flow, api, clock):
    flow.resting()
    flow.sample()
    flow.result("negative")
    clock.shift(7 * 24 * 3600 + 1)
    sweep_due_rests()  # the rest ends by the timer: an event of the system
    events = api("regulator").get(f"/api/batches/{flow.number}/events/").json()["results"]
    timer = [e for e in events if e["actor"] is None]
    assert timer and all(e["actor_name"] is None for e in timer)


# --- each regulator's bureau ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "bureau"),
    [
        ("regulator", "杭州市上城区市场监督管理局"),
        ("regulator-2", "杭州市拱墅区市场监督管理局"),
        ("regulator-city", "杭州市市场监督管理局"),
    ],
)
def test_each_regulator_shows_the_bureau_of_their_district_or_the_city(web, username, bureau):
    html = web(username).get("/").content.decode()
    header = html[html.index('class="whoami"') : html.index("</header>")]
    assert bureau in header and person_name(user(username)) in header


def test_the_city_is_named_only_when_the_districts_say_one():
    assert city_of(["杭州市上城区", "杭州市拱墅区"]) == "杭州市"
    assert city_of(["杭州市上城区", "宁波市海曙区"]) == ""
    assert city_of(["上城区"]) == "" and city_of([]) == ""
    with translation.override("zh-hans"):
        assert bureau_name(city="") == "市市场监督管理局"
        assert bureau_name(district="上城区") == "上城区市场监督管理局"
    with translation.override("en"):
        assert bureau_name(district="上城区") == "上城区 Administration for Market Regulation"


def test_a_merchant_is_shown_with_the_business_beside_their_name(web):
    html = web("merchant-b1").get("/").content.decode()
    header = html[html.index('class="whoami"') : html.index("</header>")]
    assert "黄志强" in header and "杭州北欧针织贸易部" in header and "merchant-b1" not in header


# --- exports named after the merchant ---------------------------------------------------------


def filename_star(disposition: str) -> str:
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    return unquote(encoded)


def test_the_sales_export_is_named_after_the_merchant(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_name="王女士", buyer_phone="13912345678")
    merchant_id = flow.detail()["merchant"]["id"]

    response = api("regulator").get(f"/api/trace/merchants/{merchant_id}/sales/?format=csv")

    assert response.status_code == 200
    name = filename_star(response["Content-Disposition"])
    assert name.startswith("销售记录-杭州望江服饰商行-2") and name.endswith(".csv")  # no 「经营户1」
    assert response["Content-Disposition"].isascii()


def test_a_merchant_name_cannot_break_the_header_or_the_path():
    merchant = SimpleNamespace(pk=7, name='A/B "x";\r\nSet-Cookie: y=1 ..\\..')

    disposition = exports.sales_disposition("zh-hans", merchant, "20261208-010000", "xlsx")

    assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    assert disposition.count('"') == 2 and disposition.count(";") == 2  # filename="…"; filename*=…
    name = filename_star(disposition)
    assert "/" not in name and "\\" not in name and '"' not in name and "\n" not in name
    assert name == "销售记录-A_B _x_ Set-Cookie_ y=1 .._-20261208-010000.xlsx"  # no trailing dot either


# --- EPCIS linked from the batch trace -----------------------------------------------------------


def test_the_batch_trace_links_its_epcis_document(flow, web):
    flow.pre_storage()

    html = web("regulator").get(f"/trace/batches/{flow.number}/").content.decode()

    href = f"/api/trace/batches/{flow.number}/epcis/"
    assert f'href="{href}"' in html and 'data-testid="epcis"' in html
    document = web("regulator").get(href)
    assert document.status_code == 200 and document["Content-Type"].startswith("application/ld+json")
    assert document.json()["type"] == "EPCISDocument"


# --- API errors in the interface's language, naming no model --------------------------------------

NOT_FOUND = [
    ("merchant-a1", "get", "/api/batches/NOPE-1/"),
    ("merchant-a1", "patch", "/api/batches/NOPE-1/"),
    ("merchant-a1", "get", "/api/batches/NOPE-1/events/"),
    ("merchant-a1", "get", "/api/batches/NOPE-1/codes/"),
    ("merchant-a1", "get", "/api/batches/NOPE-1/attachments/"),
    ("merchant-a1", "post", "/api/batches/NOPE-1/submit/"),
    ("merchant-a1", "get", "/api/sales/999999/"),
    ("merchant-a1", "post", "/api/sales/999999/void/"),
    ("merchant-a1", "get", "/api/codes/AAAAAAAAAAAAAAAAAAAAAAAA/qr.svg"),
    ("merchant-a1", "get", "/api/attachments/00000000-0000-0000-0000-000000000000/file/"),
    ("operator-1", "get", "/api/batches/NOPE-1/labels.pdf"),
    ("operator-1", "get", "/api/label-jobs/00000000-0000-0000-0000-000000000000/"),
    ("regulator", "get", "/api/incidents/999999/"),
    ("regulator", "get", "/api/incidents/999999/report.pdf"),
    ("regulator", "get", "/api/trace/batches/NOPE-1/"),
    ("regulator", "get", "/api/trace/batches/NOPE-1/epcis/"),
    ("regulator", "get", "/api/trace/codes/AAAAAAAAAAAAAAAAAAAAAAAA/"),
    ("regulator", "get", "/api/trace/merchants/999999/sales/"),
    ("regulator-city", "get", "/api/warehouses/?district=NOPE"),
    ("regulator", "get", "/api/no-such-thing/"),
]
MODEL_NAMES = ("Batch", "Sale", "Code", "Incident", "Attachment", "Merchant", "District", "matches")


@pytest.mark.parametrize(("username", "method", "path"), NOT_FOUND)
def test_a_404_says_not_found_in_the_interfaces_language_and_names_no_model(api, username, method, path):
    client = api(username)

    chinese = getattr(client, method)(path, {}, format="json") if method != "get" else client.get(path)
    english = (
        getattr(client, method)(path, {}, format="json", HTTP_ACCEPT_LANGUAGE="en")
        if method != "get"
        else client.get(path, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    )

    assert (chinese.status_code, chinese.json()) == (404, {"detail": "未找到。"}), path
    assert (english.status_code, english.json()) == (404, {"detail": "Not found."}), path
    assert not any(name in english.content.decode() for name in MODEL_NAMES)
    assert "Accept-Language" in english["Vary"]  # a cache keeps the two languages apart


def test_a_malformed_body_is_answered_in_words_without_pythons_message(api):
    chinese = api("merchant-a1").post("/api/batches/", "{bad", content_type="application/json")
    english = api("merchant-a1").post(
        "/api/batches/", "{bad", content_type="application/json", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert chinese.status_code == 400
    assert chinese.json() == {"detail": "无法读取请求内容：请发送格式正确的 JSON 或表单数据。"}
    assert english.status_code == 400 and "well-formed JSON" in english.json()["detail"]
    assert "Expecting" not in english.content.decode() and "line 1" not in english.content.decode()


def test_the_pages_own_api_calls_speak_the_pages_language_whatever_the_browser(web, api):
    """A signed-in page calls the API with its session: Chinese unless the person chose English,
    as the pages do (the browser's Accept-Language is not followed there)."""
    browser = web("merchant-a1")

    assert browser.get("/api/batches/NOPE-1/", HTTP_ACCEPT_LANGUAGE="en").json() == {"detail": "未找到。"}
    browser.cookies["django_language"] = "en"  # the person chose English
    assert browser.get("/api/batches/NOPE-1/").json() == {"detail": "Not found."}
    assert api("merchant-a1").get("/api/batches/NOPE-1/", HTTP_ACCEPT_LANGUAGE="fr, *").json() == {"detail": "未找到。"}
