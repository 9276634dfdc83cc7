"""Districts (SPEC §2, §5): a district regulator sees only its district — 404 outside it in the
API, the pages, the trace, the exports, EPCIS and the dashboard; a city-level regulator sees
every district, narrows to one with `?district=`, and has a row of figures per district."""

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from batches.models import Batch, Notification
from markets.models import District, Regulator, Sale
from tests.conftest import PASSWORD, Flow

# A batch of the second district: market D (district GS), served by WH-2 of district SC.
MARKET_D = {
    "merchant": "merchant-d1",
    "reviewer": "reviewer-d",
    "operator": "operator-2",
    "market": "MKT-D",
    "warehouse": "WH-2",
}


class FlowD(Flow):
    regulator = "regulator-2"


@pytest.fixture
def two_districts(api, clock, sell):
    """A released batch in each district, one code of each sold."""
    a, d = Flow(api), FlowD(api, **MARKET_D)
    a_codes, d_codes = a.released(clock), d.released(clock)
    sell([a_codes[0]["token"]])
    sell([d_codes[0]["token"]], username="merchant-d1", buyer_phone="13955550000")
    return {"a": (a, a_codes), "d": (d, d_codes)}


def merchant_of(number):
    return Batch.objects.get(number=number).merchant_id


def reads(number, token):
    merchant = merchant_of(number)
    return [
        f"/api/batches/{number}/",
        f"/api/batches/{number}/events/",
        f"/api/batches/{number}/codes/",
        f"/api/trace/codes/{token}/",
        f"/api/trace/batches/{number}/",
        f"/api/trace/batches/{number}/epcis/",
        f"/api/trace/merchants/{merchant}/sales/",
        f"/api/trace/merchants/{merchant}/sales/?format=csv",
        f"/api/trace/merchants/{merchant}/sales/?format=xlsx",
    ]


def pages(number, token):
    return [
        f"/batches/{number}/",
        f"/trace/codes/{token}/",
        f"/trace/batches/{number}/",
        f"/trace/merchants/{merchant_of(number)}/",
    ]


def test_each_district_regulator_reads_only_its_district_and_the_city_reads_both(two_districts, api, web):
    (a, a_codes), (d, d_codes) = two_districts["a"], two_districts["d"]
    own = {"regulator": (a.number, a_codes[0]["token"]), "regulator-2": (d.number, d_codes[0]["token"])}
    other = {"regulator": own["regulator-2"], "regulator-2": own["regulator"]}

    for user in ("regulator", "regulator-2"):
        for url in reads(*own[user]):
            assert api(user).get(url).status_code == 200, (user, url)
        for url in reads(*other[user]):
            assert api(user).get(url).status_code == 404, (user, url)
        for url in pages(*own[user]):
            assert web(user).get(url).status_code == 200, (user, url)
        for url in pages(*other[user]):
            assert web(user).get(url).status_code == 404, (user, url)
    for number, token in own.values():
        for url in reads(number, token):
            assert api("regulator-city").get(url).status_code == 200, url
        for url in pages(number, token):
            assert web("regulator-city").get(url).status_code == 200, url


def test_lists_and_search_hold_only_the_district(two_districts, api):
    (a, _), (d, d_codes) = two_districts["a"], two_districts["d"]

    def numbers(user, query=""):
        return {row["number"] for row in api(user).get(f"/api/batches/{query}").json()["results"]}

    assert numbers("regulator") == {a.number}
    assert numbers("regulator-2") == {d.number}
    assert numbers("regulator-city") == {a.number, d.number}
    assert numbers("regulator-city", "?district=GS") == {d.number}
    assert numbers("regulator", "?district=GS") == set()  # a filter never widens the scope
    assert api("regulator").get("/api/sales/").json()["count"] == 1
    assert api("regulator-2").get("/api/sales/").json()["count"] == 1
    assert api("regulator-city").get("/api/sales/").json()["count"] == 2

    def markets(user, query=""):
        return {m["code"] for m in api(user).get(f"/api/markets/{query}").json()["results"]}

    assert markets("regulator") == {"MKT-A", "MKT-B", "MKT-C"}
    assert markets("regulator-2") == markets("merchant-d1") == {"MKT-D"}
    assert markets("regulator-city") == {"MKT-A", "MKT-B", "MKT-C", "MKT-D"}
    assert markets("regulator-city", "?district=GS") == {"MKT-D"}
    assert api("regulator-2").get("/api/markets/?district=SC").status_code == 404
    assert api("regulator-city").get("/api/markets/?district=NOPE").status_code == 404
    # WH-2 is in district SC but serves market D: the second district's people see it
    warehouses = {w["code"] for w in api("regulator-2").get("/api/warehouses/").json()["results"]}
    assert warehouses == {"WH-2"}
    assert api("regulator-2").get("/api/warehouses/?district=SC").status_code == 404

    # the trace search finds another district's code, batch, merchant or buyer for nobody
    for q in (d_codes[0]["token"], d.number, "91330105MA2D1E1F1P", "13955550000"):
        found = api("regulator").get("/api/trace/search/", {"q": q}).json()
        assert not any(v for k, v in found.items() if k != "q"), (q, found)
        found = api("regulator-city").get("/api/trace/search/", {"q": q}).json()
        assert any(v for k, v in found.items() if k != "q"), q


def test_a_code_of_another_district_scans_and_sells_as_unknown(two_districts, api, sell):
    (_, a_codes), (_, d_codes) = two_districts["a"], two_districts["d"]

    assert api("merchant-d1").get(f"/api/scan/{a_codes[1]['token']}/").status_code == 404
    assert api("merchant-a1").get(f"/api/scan/{d_codes[1]['token']}/").status_code == 404
    assert api("merchant-d1").get(f"/api/scan/{d_codes[1]['token']}/").status_code == 200
    refused = sell([d_codes[1]["token"]], expect=400)
    assert "codes" in refused
    assert Sale.objects.count() == 2


def test_the_dashboard_is_of_the_district_and_the_city_has_a_row_per_district(two_districts, web):

    page = web("regulator-2").get("/dashboard/")
    assert page.status_code == 200
    assert [row["warehouse"].code for row in page.context["warehouses"]] == ["WH-2"]
    assert [m.code for m in page.context["chart"]["markets"]] == ["MKT-D"]
    assert page.context["districts"] == []  # no district figures or filter for a district
    assert web("regulator-2").get("/dashboard/?district=SC").status_code == 404
    assert web("regulator").get("/dashboard/?district=GS").status_code == 404

    city = web("regulator-city").get("/dashboard/")
    rows = {row["district"].code: row for row in city.context["districts"]}
    assert set(rows) == {"SC", "GS"}
    assert rows["SC"]["sold_today"] == rows["GS"]["sold_today"] == 1
    assert [m.code for m in city.context["chart"]["markets"]] == ["MKT-A", "MKT-B", "MKT-C", "MKT-D"]
    narrowed = web("regulator-city").get("/dashboard/?district=GS")
    assert [m.code for m in narrowed.context["chart"]["markets"]] == ["MKT-D"]
    assert narrowed.context["chart"]["total"] == 1


def test_the_zone_board_of_a_warehouse_outside_the_district_is_404(web):
    assert web("regulator-2").get("/warehouse/board/?warehouse=WH-2").status_code == 200
    assert web("regulator-2").get("/warehouse/board/?warehouse=WH-1").status_code == 404
    assert web("regulator-city").get("/warehouse/board/?warehouse=WH-1").status_code == 200


@pytest.mark.parametrize("user", ["regulator-2", "regulator-city"])
def test_the_new_regulators_have_the_regulator_pages_and_menu(web, user):
    for url in ("/", "/dashboard/", "/trace/", "/alerts/", "/batches/"):
        assert web(user).get(url, follow=True).status_code == 200, url
    menu = [item["key"] for item in web(user).get("/", follow=True).context["menu"]]
    assert menu == ["home", "trace", "batches", "alerts"]
    for url in ("/batches/new/", "/review/", "/scan/", "/sales/"):
        assert web(user).get(url).status_code == 403, url


def test_the_new_district_people_have_their_pages(web):
    assert web("merchant-d1").get("/batches/new/").status_code == 200
    assert web("reviewer-d").get("/review/").status_code == 200
    assert web("merchant-d1").get("/dashboard/").status_code == 403


def test_a_positive_result_alerts_the_district_and_the_city_not_the_other_district(api):
    d = FlowD(api, **MARKET_D)
    d.resting()
    d.sample()
    d.result("positive")

    alerted = set(
        Notification.objects.filter(batch__number=d.number, kind="positive_result").values_list(
            "recipient__username", flat=True
        )
    )
    assert alerted == {"regulator-2", "regulator-city"}
    assert [n["batch"] for n in api("regulator-2").get("/api/notifications/").json()["results"]] == [d.number]
    assert api("regulator").get("/api/notifications/").json()["count"] == 0


def test_a_regulator_is_of_one_district_or_of_the_city_never_neither_nor_both(world, django_user_model):
    user = django_user_model.objects.create_user("regulator-x", password=PASSWORD)
    with pytest.raises(IntegrityError), transaction.atomic():
        Regulator.objects.create(user=user)  # no district, not city level: refused
    with pytest.raises(IntegrityError), transaction.atomic():
        Regulator.objects.create(user=user, district=District.objects.get(code="SC"), city_level=True)


def test_seeding_twice_changes_nothing_and_keeps_the_first_district_as_it_was(db):
    call_command("seed_demo", password=PASSWORD)
    counts = (Batch.objects.count(), Regulator.objects.count(), District.objects.count())
    call_command("seed_demo", password=PASSWORD)

    assert (Batch.objects.count(), Regulator.objects.count(), District.objects.count()) == counts
    assert Regulator.objects.get(user__username="regulator").district.code == "SC"
    assert Regulator.objects.get(user__username="regulator-2").district.code == "GS"
    city = Regulator.objects.get(user__username="regulator-city")
    assert city.city_level and city.district is None
    assert Batch.objects.filter(market__code="MKT-D", warehouse__code="WH-2").exists()
