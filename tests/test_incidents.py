"""Incident mode (docs/api.md, "Incident mode"): a positive result opens an incident; the regulator
sees the co-located lots (shared resting zone, same-day arrival at the same warehouse), seals
them in one action; a sealed batch is not moved to storage, coded, released or sold until the
seal is lifted (409 `sealed`); buyers of sold items are listed and told (SMS through the
outbox), merchants are notified; the report is a PDF; EPCIS carries the new events."""

import pytest

from batches.models import Event, Incident, IncidentContact, Notification, Seal
from batches.sms import MemorySMSBackend
from batches.tasks import sweep_due_rests
from config.reliability.models import OutboxMessage
from tests.conftest import MARKET_B, MARKET_C, Flow

WEEK = 7 * 24 * 3600 + 1
MARKET_A2 = {"merchant": "merchant-a2", "reviewer": "reviewer-a", "market": "MKT-A"}


@pytest.fixture
def world_with_incident(api, clock, sell):
    """WH-1: `sold` (market B) arrived the same day as `positive`, rested first, was released
    and partly sold; `beside` (merchant-a2) rested beside `positive`, whose sample is positive.
    `far` rested at the same time in WH-2: not co-located."""
    sold, positive = Flow(api, **MARKET_B), Flow(api)
    sold.pre_storage()
    positive.pre_storage()  # the same day, the same warehouse
    sold.post("operator-1", "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, 201)
    sold.post("operator-1", "move-to-resting")
    sold.sample()
    sold.result("negative")
    clock.shift(WEEK)
    sweep_due_rests()
    sold.post("operator-1", "move-to-storage")
    sold.post("operator-1", "issue-codes")
    sold.post("operator-1", "release", {"all": True})
    codes = sold.codes()
    sell([codes[0]["token"], codes[1]["token"]], username="merchant-b1", buyer_name="王小姐", buyer_phone="13912345678")

    clock.shift(24 * 3600)  # a day later: `beside` arrives and rests beside `positive`
    beside, far = Flow(api, **MARKET_A2), Flow(api, **MARKET_C)
    beside.resting()
    far.resting()
    clock.shift(3600)
    positive.post(
        "operator-1", "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, 201
    )
    positive.post("operator-1", "move-to-resting")
    clock.shift(3600)
    positive.sample()
    clock.shift(3600)
    positive.result("positive")
    incident = Incident.objects.get(batch__number=positive.number)
    return {"positive": positive, "beside": beside, "sold": sold, "far": far, "incident": incident, "codes": codes}


def lots_of(api, user, incident):
    return {lot["number"]: lot for lot in api(user).get(f"/api/incidents/{incident.pk}/").json()["lots"]}


def test_a_positive_result_opens_an_incident_with_its_co_located_lots(api, world_with_incident):
    w = world_with_incident
    incident = w["incident"]

    assert incident.state == "open" and incident.cycle == 1
    assert Event.objects.filter(batch=incident.batch, action="incident_open").count() == 1
    lots = lots_of(api, "regulator", incident)
    assert set(lots) == {w["beside"].number, w["sold"].number}  # not the batch of WH-2
    assert lots[w["beside"].number]["reasons"] == ["shared_rest"]
    assert lots[w["sold"].number]["reasons"] == ["same_day_arrival"]
    assert not any(lot["sealed"] for lot in lots.values())
    listed = api("regulator").get("/api/incidents/?state=open").json()["results"]
    assert [row["batch"] for row in listed] == [w["positive"].number]


def test_incidents_are_for_the_regulators_within_reach(api, web, world_with_incident):
    incident = world_with_incident["incident"]
    url = f"/api/incidents/{incident.pk}/"

    assert api(None).get(url).status_code == 401
    assert api("regulator-2").get(url).status_code == 404  # another district
    assert api("merchant-b1").get(url).status_code == 404  # does not see the positive batch
    assert api("merchant-a1").get(url).status_code == 403  # sees it, but not a regulator
    assert api("operator-1").get(url).status_code == 403
    assert api("regulator").get(url).status_code == 200
    assert api("regulator-city").get(url).status_code == 200
    assert api("operator-1").get("/api/incidents/").status_code == 403
    assert api("regulator-2").get("/api/incidents/").json()["count"] == 0
    for path in ("seal/", "lift-seal/", "notify/", "close/"):
        assert api("regulator-2").post(url + path, {"batches": ["X"]}, format="json").status_code == 404, path
        assert api("operator-1").post(url + path, {"batches": ["X"]}, format="json").status_code == 403, path
    assert api("regulator-2").get(url + "report.pdf").status_code == 404
    # the pages: the same scope
    page = f"/incidents/{incident.pk}/"
    assert web("regulator").get(page).status_code == 200
    assert web("regulator-2").get(page).status_code == 404
    assert web("operator-1").get(page).status_code == 403
    assert web("regulator-2").post(page + "seal/", {"batches": ["X"]}).status_code == 404


def test_one_action_seals_the_chosen_lots_and_only_lots(api, world_with_incident):
    w = world_with_incident
    url = f"/api/incidents/{w['incident'].pk}/"

    refused = api("regulator").post(url + "seal/", {"batches": [w["far"].number]}, format="json")
    assert refused.status_code == 400 and w["far"].number in refused.json()["batches"]
    body = api("regulator").post(
        url + "seal/", {"batches": [w["beside"].number, w["sold"].number], "reason": "同区静置"}, format="json"
    )

    assert body.status_code == 200
    assert all(lot["sealed"] for lot in body.json()["lots"])
    assert Seal.objects.filter(lifted_at__isnull=True).count() == 2
    seal_events = Event.objects.filter(action="seal")
    assert sorted(e.batch.number for e in seal_events) == sorted([w["beside"].number, w["sold"].number])
    assert all(e.role == "regulator" and e.details["reason"] == "同区静置" for e in seal_events)
    # sealing again changes nothing
    api("regulator").post(url + "seal/", {"batches": [w["beside"].number]}, format="json")
    assert Event.objects.filter(action="seal").count() == 2
    # lifting a lot that is not sealed is a conflict
    api("regulator").post(url + "lift-seal/", {"batches": [w["beside"].number]}, format="json")
    again = api("regulator").post(url + "lift-seal/", {"batches": [w["beside"].number]}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "not_sealed"


def test_a_sealed_batch_moves_nowhere_until_the_seal_is_lifted(api, clock, sell, world_with_incident):
    w = world_with_incident
    beside, url = w["beside"], f"/api/incidents/{w['incident'].pk}/"

    def seal():
        assert api("regulator").post(url + "seal/", {"batches": [beside.number]}, format="json").status_code == 200

    def lift():
        assert api("regulator").post(url + "lift-seal/", {"batches": [beside.number]}, format="json").status_code == 200

    def refused(action, body=None):
        before = Event.objects.count()
        response = beside.api("operator-1").post(f"/api/batches/{beside.number}/{action}/", body or {}, format="json")
        assert response.status_code == 409, (action, response.content)
        assert response.json()["code"] == "sealed"
        assert action.replace("-", "_") not in response.json()["allowed"]
        assert Event.objects.count() == before  # nothing happened

    beside.sample()
    beside.result("negative")
    clock.shift(WEEK)
    sweep_due_rests()
    seal()
    refused("move-to-storage")
    lift()
    beside.post("operator-1", "move-to-storage")
    seal()
    refused("issue-codes")
    lift()
    beside.post("operator-1", "issue-codes")
    seal()
    refused("release", {"all": True})
    lift()
    beside.post("operator-1", "release", {"all": True})
    seal()
    token = beside.codes()[0]["token"]
    response = beside.api("merchant-a2").post(
        "/api/sales/",
        {"codes": [token], "buyer_name": "李先生", "buyer_phone": "13700000009", "buyer_kind": "consumer"},
        format="json",
    )
    assert response.status_code == 409 and response.json()["code"] == "sealed"
    lift()
    sell([token], username="merchant-a2")
    assert [e.action for e in Event.objects.filter(batch__number=beside.number, action__in=("seal", "lift_seal"))] == [
        "seal",
        "lift_seal",
    ] * 4


def test_the_operators_page_says_the_batch_is_sealed(api, web, clock, world_with_incident):
    w = world_with_incident
    beside = w["beside"]
    beside.sample()
    beside.result("negative")
    clock.shift(WEEK)
    sweep_due_rests()
    api("regulator").post(f"/api/incidents/{w['incident'].pk}/seal/", {"batches": [beside.number]}, format="json")

    answer = web("operator-1").post(f"/batches/{beside.number}/do/move-to-storage/")

    assert answer.status_code == 409
    assert "封存" in answer.content.decode()
    assert beside.detail()["status"] == "rest_complete"


def test_buyers_are_listed_and_told_once_and_merchants_notified(
    api, settings, world_with_incident, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = "batches.sms.MemorySMSBackend"
    MemorySMSBackend.outbox = []
    w = world_with_incident
    url = f"/api/incidents/{w['incident'].pk}/"
    api("regulator").post(url + "seal/", {"batches": [w["sold"].number, w["beside"].number]}, format="json")

    (buyer,) = api("regulator").get(url).json()["buyers"]
    assert (buyer["buyer_name"], buyer["buyer_phone"], buyer["items"], buyer["market"], buyer["batch"]) == (
        "王小姐",
        "13912345678",
        2,
        "MKT-B",
        w["sold"].number,
    )
    assert buyer["merchant"] == "杭州北欧针织贸易部" and buyer["contacted"] is False

    with django_capture_on_commit_callbacks(execute=True):
        body = api("regulator").post(url + "notify/", {}, format="json").json()

    assert body["buyers"][0]["contacted"] is True
    (sms,) = MemorySMSBackend.outbox
    assert sms[0] == "13912345678" and w["sold"].number in sms[1]
    assert OutboxMessage.objects.filter(task_name="batches.tasks.send_incident_sms").count() == 1
    told = set(Notification.objects.filter(kind="incident").values_list("recipient__username", flat=True))
    assert told == {"merchant-a1", "merchant-a2", "merchant-b1"}
    # a second call tells nobody twice
    with django_capture_on_commit_callbacks(execute=True):
        api("regulator").post(url + "notify/", {}, format="json")
    assert len(MemorySMSBackend.outbox) == 1
    assert IncidentContact.objects.count() == 4


def test_the_report_is_a_pdf_and_epcis_carries_the_new_events(api, world_with_incident):
    w = world_with_incident
    url = f"/api/incidents/{w['incident'].pk}/"
    api("regulator").post(url + "seal/", {"batches": [w["beside"].number]}, format="json")
    api("regulator").post(url + "lift-seal/", {"batches": [w["beside"].number]}, format="json")

    report = api("regulator").get(url + "report.pdf")

    assert report.status_code == 200 and report["Content-Type"] == "application/pdf"
    assert b"".join(report.streaming_content).startswith(b"%PDF")
    epcis = api("regulator").get(f"/api/trace/batches/{w['beside'].number}/epcis/").json()
    steps = {e["wh:step"]: e for e in epcis["epcisBody"]["eventList"]}
    assert {"seal", "lift_seal"} <= set(steps)
    assert steps["seal"]["bizStep"].endswith("holding")
    assert steps["seal"]["disposition"].endswith("non_sellable_other")
    positive = api("regulator").get(f"/api/trace/batches/{w['positive'].number}/epcis/").json()
    assert "incident_open" in {e["wh:step"] for e in positive["epcisBody"]["eventList"]}


def test_the_incident_page_shows_lots_seal_buttons_buyers_and_the_report(web, world_with_incident):
    w = world_with_incident
    page = f"/incidents/{w['incident'].pk}/"

    html = web("regulator").get(page).content.decode()
    assert w["beside"].number in html and w["sold"].number in html and w["far"].number not in html
    assert 'data-testid="do-seal"' in html and "report.pdf" in html
    assert "王小姐" not in html  # the buyers of a lot appear once it is sealed

    answer = web("regulator").post(
        page + "seal/", {"batches": [w["beside"].number, w["sold"].number], "reason": "同区"}
    )
    assert answer.status_code == 302
    assert Seal.objects.filter(batch__number=w["beside"].number, lifted_at__isnull=True).exists()
    html = web("regulator").get(page).content.decode()
    assert f'data-testid="lift-{w["beside"].number}"' in html
    assert "王小姐" in html and "13912345678" in html and "MKT-B" in html
    web("regulator").post(page + "lift-seal/", {"batches": [w["beside"].number]})
    assert not Seal.objects.filter(batch__number=w["beside"].number, lifted_at__isnull=True).exists()
    again = web("regulator").post(page + "lift-seal/", {"batches": [w["beside"].number]}, follow=True)
    assert again.status_code == 200 and f"批次 {w['beside'].number} 未被封存" in again.content.decode()
    dashboard = web("regulator").get("/dashboard/").content.decode()
    assert page in dashboard
    assert web("regulator").get("/incidents/").status_code == 200


def test_a_sealed_items_public_page_says_under_investigation_at_once_and_never_passed(
    api, clock, world_with_incident, settings
):
    """docs/contract.md, public page states: while a seal is in force the page says 正在核查 and
    shows no passed test, from the moment the seal is committed (a cached page is not served),
    in both languages; once lifted it says what it said before."""
    from django.core.cache import cache
    from django.test import Client

    from warehouse.public import UNSETTLED_SECONDS

    assert settings.PUBLIC_PAGE_CACHE_SECONDS > 0
    cache.clear()
    w = world_with_incident
    path = f"/c/{w['codes'][0]['token']}"  # an item sold before the incident
    clock.shift(UNSETTLED_SECONDS + 1)  # the batch's last change has settled: its pages are kept
    shopper, visitor = Client(), Client()
    before = shopper.get(path).content.decode()
    assert "已售出" in before and "检测合格" in before and "正在核查" not in before
    assert "Sold" in visitor.get(f"{path}?lang=en").content.decode()
    assert shopper.get(path).content.decode() == before  # kept, and served from the cache

    api("regulator").post(f"/api/incidents/{w['incident'].pk}/seal/", {"batches": [w["sold"].number]}, format="json")

    sealed = shopper.get(path).content.decode()
    assert "正在核查" in sealed and 'data-testid="under-investigation"' in sealed
    assert "检测合格" not in sealed and "已售出" not in sealed and "HZCDC" not in sealed and "R-1" not in sealed
    english = visitor.get(path).content.decode()  # the visitor's cookie keeps English
    assert "Under investigation" in english and "negative" not in english.lower() and "Sold" not in english
    clock.shift(UNSETTLED_SECONDS + 1)
    assert "正在核查" in shopper.get(path).content.decode()  # and so it stays, cached or not

    api("regulator").post(
        f"/api/incidents/{w['incident'].pk}/lift-seal/", {"batches": [w["sold"].number]}, format="json"
    )

    lifted = shopper.get(path).content.decode()
    assert "已售出" in lifted and "检测合格" in lifted and "正在核查" not in lifted
    cache.clear()
