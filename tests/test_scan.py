"""Scanning (SPEC §4 `GET /api/scan/{value}/`) and release by scanning.

A scanner reads a pallet label (the batch number) or an item's QR: a `/c/` URL, a GS1 Digital
Link, or the token typed by hand. Given a coded batch of merchant-a1 in WH-1: three coats with
a GTIN (items 1–3) and two scarves without (items 4–5).
"""

from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from batches.codes import parse_code_scan
from batches.models import Code, CodeStatus, Event
from markets.models import Sale

GTIN = "09506000134352"
HUGE = "99999999999999999999999"


def url_of(code: Code) -> str:
    if code.line.gtin:
        return f"{settings.PUBLIC_BASE_URL}/01/{GTIN}/10/{code.batch.number}/21/{code.serial}"
    return f"{settings.PUBLIC_BASE_URL}/c/{code.token}"


def codes_of(number) -> dict[int, Code]:
    return {code.item_no: code for code in Code.objects.filter(batch__number=number).select_related("line", "batch")}


@pytest.fixture
def coded(flow, clock):
    flow.coded(clock)
    return flow.number, codes_of(flow.number)


def scan(client, value, *, as_query=False):
    if as_query:
        return client.get("/api/scan/", {"value": value})
    return client.get(f"/api/scan/{quote(value, safe='')}/")


# --- what a scan is ------------------------------------------------------------------------


def test_scanning_a_pallet_label_finds_the_batch_and_what_the_crew_may_do(api, coded):
    number, _codes = coded

    response = scan(api("operator-1"), number)

    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "batch" and body["code"] is None
    assert (body["batch"]["number"], body["batch"]["status"], body["batch"]["warehouse"]) == (number, "coded", "WH-1")
    assert body["batch"]["codes"]["in_warehouse"] == 5
    assert [line["product_name"] for line in body["batch"]["lines"]] == ["羊毛大衣", "真丝围巾"]
    assert body["allowed_actions"] == ["release"]


@pytest.mark.parametrize("form", ["token", "lowercase token", "c url", "digital link", "digital link, gtin-13"])
def test_every_form_a_label_carries_finds_the_item(api, coded, form):
    number, codes = coded
    coat, scarf = codes[2], codes[4]
    value, expected = {
        "token": (scarf.token, scarf),
        "lowercase token": (scarf.token.lower(), scarf),
        "c url": (url_of(scarf), scarf),
        "digital link": (url_of(coat), coat),
        "digital link, gtin-13": (f"{settings.PUBLIC_BASE_URL}/01/{GTIN[1:]}/10/{number}/21/{coat.serial}", coat),
    }[form]

    for as_query in (False, True):
        response = scan(api("operator-1"), value, as_query=as_query)
        assert response.status_code == 200, (as_query, response.content)
        body = response.json()
        assert body["kind"] == "code"
        assert (body["code"]["token"], body["code"]["serial"]) == (expected.token, expected.serial)
        assert body["code"]["status"] == "in_warehouse"
        assert body["code"]["url"] == url_of(expected)
        assert body["batch"]["number"] == number
        assert body["allowed_actions"] == ["release"]


def test_a_merchant_scanning_a_released_item_may_sell_it(api, flow, coded):
    _number, codes = coded
    flow.post("operator-1", "release", {"codes": [codes[1].token]})

    released = scan(api("merchant-a1"), codes[1].token).json()
    still_inside = scan(api("merchant-a1"), codes[2].token).json()

    assert (released["code"]["status"], released["allowed_actions"]) == ("released", ["sell"])
    assert (still_inside["code"]["status"], still_inside["allowed_actions"]) == ("in_warehouse", [])
    assert scan(api("operator-1"), codes[1].token).json()["allowed_actions"] == []


@pytest.mark.parametrize(
    "username, expected",
    [
        ("operator-1", 200),
        ("merchant-a1", 200),
        ("reviewer-a", 403),  # the role does not scan
        ("regulator", 403),
        ("operator-2", 404),  # another warehouse: as if it did not exist
        ("merchant-a2", 404),  # another merchant
        (None, 401),
    ],
)
def test_scanning_is_for_the_crew_and_the_merchant_within_their_scope(api, coded, username, expected):
    number, codes = coded

    assert scan(api(username), number).status_code == expected
    assert scan(api(username), url_of(codes[4])).status_code == expected


@pytest.mark.parametrize(
    "value",
    [
        "NOT-A-BATCH",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "https://example.cn/c/AAAAAAAAAAAAAAAAAAAAAAAA",
        f"https://example.cn/01/{GTIN}/10/NO-SUCH-BATCH/21/1",
    ],
)
def test_a_value_naming_nothing_is_not_found(api, coded, value):
    assert scan(api("operator-1"), value).status_code == 404


def test_a_digital_link_with_another_gtin_names_no_item(api, coded):
    number, _codes = coded

    assert scan(api("operator-1"), f"https://example.cn/01/04006381333931/10/{number}/21/1").status_code == 404


def test_a_scan_without_a_value_is_bad_input(api, coded):
    response = api("operator-1").get("/api/scan/")

    assert response.status_code == 400
    assert "value" in response.json()


def test_parse_code_scan_reads_every_form(settings):
    settings.CODE_URL_HOSTS = ["x.cn"]
    token = "ABCDEFGHIJKLMNOPQRSTUVWX"
    assert parse_code_scan(f"  {token.lower()} ").token == token
    assert parse_code_scan(f"https://x.cn/c/{token}/?utm=qr").token == token
    assert parse_code_scan(f"/c/{token}").token == token
    link = parse_code_scan("https://x.cn/01/9506000134352/10/MKT-A-20261129-0001/21/abcdefghijk23457")
    assert (link.gtin, link.lot, link.serial) == (GTIN, "MKT-A-20261129-0001", "ABCDEFGHIJK23457")
    assert parse_code_scan("https://x.cn/c/too-short") is None
    assert parse_code_scan("") is None


# --- release by scanning --------------------------------------------------------------------


def test_scanned_values_in_any_form_release_exactly_those_items(api, flow, coded):
    number, codes = coded
    scans = [codes[1].token, url_of(codes[2]), url_of(codes[4]).replace("http://", "HTTP://")]

    detail = flow.post("operator-1", "release", {"codes": scans})

    assert detail["status"] == "coded"
    assert detail["codes"]["released"] == 3 and detail["codes"]["in_warehouse"] == 2
    assert {item_no for item_no, code in codes_of(number).items() if code.status == "released"} == {1, 2, 4}
    event = Event.objects.filter(batch__number=number, action="release").get()
    assert sorted(event.details["codes"]) == sorted(codes[s].token for s in (1, 2, 4))


def test_releasing_the_last_items_by_scanning_releases_the_batch(api, flow, coded):
    _number, codes = coded

    detail = flow.post("operator-1", "release", {"codes": [url_of(code) for code in codes.values()]})

    assert detail["status"] == "released"


def test_each_problem_is_reported_per_scanned_value_and_nothing_is_released(api, flow, clock, coded):
    number, codes = coded
    other = type(flow)(flow.api)  # a second batch of the same merchant in the same warehouse
    other.coded(clock)
    other_codes = codes_of(other.number)
    flow.post("operator-1", "release", {"codes": [codes[1].token]})
    Code.objects.filter(pk=codes[3].pk).update(status=CodeStatus.SOLD)  # given: sold in the market
    Code.objects.filter(pk=codes[5].pk).update(status=CodeStatus.RECALLED)  # given: recalled
    events = Event.objects.count()
    scans = [
        codes[2].token,  # fine on its own
        url_of(codes[2]),  # the same item again, as its QR URL
        "ZZZZZZZZZZZZZZZZZZZZZZZZ",  # unknown
        "not a code at all",  # unreadable
        other_codes[1].token,  # of the other batch
        codes[1].token,  # already released
        url_of(codes[3]),  # sold
        codes[5].token,  # recalled
        codes[4].token,  # fine
    ]

    response = api("operator-1").post(f"/api/batches/{number}/release/", {"codes": scans}, format="json")

    assert response.status_code == 400
    problems = response.json()["codes"]
    assert set(problems) == set(scans) - {codes[2].token, codes[4].token}
    assert "重复" in problems[url_of(codes[2])] and codes[2].token in problems[url_of(codes[2])]
    assert "未知" in problems["ZZZZZZZZZZZZZZZZZZZZZZZZ"] and "未知" in problems["not a code at all"]
    assert other.number in problems[other_codes[1].token]
    assert "已出仓" in problems[codes[1].token]
    assert "已售出" in problems[url_of(codes[3])]
    assert "已召回" in problems[codes[5].token]
    # nothing half-done
    assert codes_of(number)[2].status == codes_of(number)[4].status == "in_warehouse"
    assert Event.objects.count() == events


def test_an_item_of_a_batch_out_of_the_callers_sight_is_simply_unknown(api, flow, clock, coded):
    number, _codes = coded
    other = type(flow)(flow.api)  # merchant-c1's batch in WH-2, which operator-1 cannot see
    other.merchant, other.reviewer, other.operator = "merchant-c1", "reviewer-c", "operator-2"
    other.declare(market="MKT-C")
    other.post(other.merchant, "submit")
    other.post(other.reviewer, "approve", {"warehouse": "WH-2"})
    other.post(other.operator, "arrive", {"lines": other.arrival()})
    other.post(
        other.operator, "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, expect=201
    )
    other.post(other.operator, "move-to-resting")
    other.sample()
    other.result("negative")
    clock.shift(7 * 24 * 3600 + 1)
    from batches.tasks import sweep_due_rests

    sweep_due_rests()
    other.post(other.operator, "move-to-storage")
    other.post(other.operator, "issue-codes")
    foreign = codes_of(other.number)[1]

    response = api("operator-1").post(f"/api/batches/{number}/release/", {"codes": [foreign.token]}, format="json")

    assert response.status_code == 400
    assert other.number not in str(response.json())
    assert "未知" in response.json()["codes"][foreign.token]


# --- serials not of our form, however large ---------------------------------------------------


def digital_link(number, serial):
    return f"http://localhost:8000/01/{GTIN}/10/{number}/21/{serial}"


def test_a_digital_link_serial_not_of_our_form_names_no_code():
    assert parse_code_scan(f"/01/{GTIN}/10/B-1/21/ABCDEFGHIJKLMNOP").serial == "ABCDEFGHIJKLMNOP"
    # Sequential numbers (the old, guessable serials), huge ones, or the wrong length
    for serial in ("1", "2147483648", "9999999999", HUGE, "ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNOPQ", "ABCDEFGHIJKLMNO1"):
        assert parse_code_scan(f"/01/{GTIN}/10/B-1/21/{serial}") is None, serial
    # Only ASCII digits: full-width ones are not a GTIN or serial
    assert parse_code_scan(f"/01/{GTIN}/10/B-1/21/１２") is None
    assert parse_code_scan("/01/０９５０６０００１３４３５２/10/B-1/21/1") is None


def test_a_huge_serial_answers_404_or_400_everywhere_a_scan_is_read(flow, clock, api, sell):
    codes = flow.released(clock)
    huge = digital_link(flow.number, HUGE)
    cache.clear()  # the public page's throttle
    assert Client().get(f"/01/{GTIN}/10/{flow.number}/21/{HUGE}").status_code == 404
    assert api("operator-1").get("/api/scan/", {"value": huge}).status_code == 404
    assert api("merchant-a1").get("/api/scan/", {"value": huge}).status_code == 404
    refused = sell([codes[0]["token"], huge], expect=400)
    assert list(refused["codes"]) == [huge] and Sale.objects.count() == 0
    assert api("regulator").get("/api/trace/search/", {"q": huge}).status_code == 200


def test_release_by_scanning_a_huge_serial_is_a_per_code_problem(flow, clock, api):
    flow.coded(clock)
    huge = digital_link(flow.number, HUGE)
    answer = api("operator-1").post(f"/api/batches/{flow.number}/release/", {"codes": [huge]}, format="json")
    assert answer.status_code == 400 and list(answer.json()["codes"]) == [huge]


# --- R8: code times shown in Asia/Shanghai ----------------------------------------------------


def test_scan_shows_code_times_in_shanghai(flow, clock, api):
    flow.released(clock)
    token = Code.objects.filter(batch__number=flow.number).first().token
    code = api("operator-1").get(f"/api/scan/{token}/").json()["code"]
    assert code["issued_at"].endswith("+08:00") and code["released_at"].endswith("+08:00")
