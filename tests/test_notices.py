"""Notices (docs/contract.md "Notices"): each person is told what concerns them, nobody else is.
Merchants: approval, rejection with its reason, discrepancy, quarantine, seal and its lifting,
recall. Reviewers: batches submitted to their market. Operators: batches approved into their
warehouse, rests completed. Regulators: positive results. Newest first, unread ones marked; the
serious ones (recall, seal, quarantine) also by SMS and e-mail, and seals and recalls as banners
naming every batch concerned."""

import pytest
from django.contrib.auth import get_user_model

from batches.models import Incident, Notification
from batches.sms import MemorySMSBackend
from batches.tasks import sweep_due_rests
from config.reliability.models import OutboxMessage
from tests.conftest import MARKET_C, Flow
from tests.test_web_support import text_of

WEEK = 7 * 24 * 3600 + 1
EVERYBODY = [
    "merchant-a1",
    "merchant-a2",
    "merchant-b1",
    "merchant-c1",
    "merchant-d1",
    "reviewer-a",
    "reviewer-b",
    "reviewer-c",
    "reviewer-d",
    "operator-1",
    "operator-2",
    "regulator",
    "regulator-2",
    "regulator-city",
]


def told(api, username, **query):
    """(kind, batch) of the person's notices as the API lists them, newest first."""
    return [(n["kind"], n["batch"]) for n in api(username).get("/api/notifications/", query).json()["results"]]


def everybody_told(api):
    return {username: told(api, username) for username in EVERYBODY if told(api, username)}


def test_each_step_tells_its_people_and_nobody_else(api, flow, clock):
    n = flow.declare()["number"]
    assert everybody_told(api) == {}  # a draft concerns nobody yet

    flow.post("merchant-a1", "submit")
    assert everybody_told(api) == {"reviewer-a": [("submitted", n)]}  # not market B's reviewer

    flow.post("reviewer-a", "approve", {"warehouse": "WH-1"})
    assert everybody_told(api) == {
        "reviewer-a": [("submitted", n)],
        "merchant-a1": [("approved", n)],
        "operator-1": [("approved_into_warehouse", n)],  # not WH-2's operator
    }

    flow.post("operator-1", "arrive", {"lines": flow.arrival()})  # it matches: nobody is told
    flow.post("operator-1", "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, 201)
    flow.post("operator-1", "move-to-resting")
    flow.sample()
    flow.result("negative")
    clock.shift(WEEK)
    sweep_due_rests()
    assert told(api, "operator-1") == [("rest_complete", n), ("approved_into_warehouse", n)]

    flow.post("regulator", "recall", {"reason": "境外通报"})
    assert told(api, "merchant-a1") == [("recall", n), ("approved", n)]
    # the regulators act; they are not told of their own decisions, and the other district nothing
    assert set(everybody_told(api)) == {"reviewer-a", "merchant-a1", "operator-1"}


def test_a_rejection_tells_the_merchant_the_reason_in_the_merchants_language(api, flow, settings):
    flow.to("rejected")  # reason 资料不全

    (notice,) = api("merchant-a1").get("/api/notifications/").json()["results"]
    assert notice["kind"] == "rejected" and notice["unread"] is True
    assert notice["title"] == f"批次 {flow.number} 被驳回"
    assert "资料不全" in notice["body"] and "重新提交" in notice["body"]
    api("merchant-a1").cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the language switch's cookie
    (english,) = api("merchant-a1").get("/api/notifications/").json()["results"]
    assert english["title"] == f"Batch {flow.number} was rejected"
    assert english["body"].startswith("Reason: 资料不全.")


def test_a_discrepancy_at_arrival_tells_the_merchant_how_many_lines_differ(api, flow):
    flow.to("discrepancy")

    (notice, _approved) = api("merchant-a1").get("/api/notifications/").json()["results"]
    assert notice["kind"] == "discrepancy" and notice["batch"] == flow.number
    assert "1 个货物行与申报不符" in notice["body"]


def test_a_rest_completed_by_the_crews_own_action_is_told_too(api, flow, clock):
    """R1: past rest_until the first action ends the rest itself; the operators hear of it as of the sweep's."""
    flow.resting()
    flow.sample()
    flow.result("negative")
    clock.shift(WEEK)

    flow.post("operator-1", "move-to-storage")

    assert [kind for kind, _n in told(api, "operator-1")] == ["rest_complete", "approved_into_warehouse"]
    assert told(api, "operator-2") == []


def test_a_quarantine_tells_the_merchant_and_the_districts_regulators(api, new_flow):
    c = new_flow(**MARKET_C)  # market C, warehouse WH-2, district 上城区 like market A
    c.to("quarantined")

    assert told(api, "merchant-c1") == [("quarantined", c.number), ("approved", c.number)]
    assert told(api, "regulator") == [("positive_result", c.number)]
    assert told(api, "regulator-city") == [("positive_result", c.number)]
    assert told(api, "regulator-2") == []  # another district
    assert told(api, "operator-2") == [("approved_into_warehouse", c.number)]  # no alert for the crew
    assert told(api, "merchant-a1") == []


def test_the_serious_notices_also_go_out_by_sms_and_e_mail(
    api, flow, clock, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.SMS_BACKEND = "batches.sms.MemorySMSBackend"
    MemorySMSBackend.outbox = []
    merchant = get_user_model().objects.get(username="merchant-a1")
    merchant.email = "a1@example.cn"
    merchant.save()
    with django_capture_on_commit_callbacks(execute=True):
        flow.approved()  # not serious: in the system only
    assert MemorySMSBackend.outbox == [] and mailoutbox == []

    with django_capture_on_commit_callbacks(execute=True):
        flow.post("regulator", "recall", {"reason": "境外通报"})

    ((phone, text),) = MemorySMSBackend.outbox
    assert phone == merchant.merchant.phone and flow.number in text and "境外通报" in text
    (mail,) = mailoutbox
    assert mail.to == ["a1@example.cn"] and mail.subject == f"批次 {flow.number} 已被召回"
    assert OutboxMessage.objects.filter(task_name="batches.tasks.send_notice_sms").count() == 1


def test_unread_notices_are_marked_until_read(api, web, flow):
    flow.to("rejected")
    home = web("merchant-a1").get("/")
    html = home.content.decode()
    assert 'data-testid="notices"' in html and 'class="unread-mark"' in html and "被驳回" in html
    assert next(item for item in home.context["menu"] if item["key"] == "home")["badge"] == 1
    assert html.index('data-testid="notices"') < html.index("待处理")  # above the batch lists
    page = web("merchant-a1").get("/alerts/")
    assert page.status_code == 200 and "资料不全" in text_of(page)

    assert web("merchant-a1").post("/alerts/read/").status_code == 302

    assert 'class="unread-mark"' not in web("merchant-a1").get("/").content.decode()
    assert "badge" not in next(i for i in web("merchant-a1").get("/").context["menu"] if i["key"] == "home")
    assert [n["unread"] for n in api("merchant-a1").get("/api/notifications/").json()["results"]] == [False]
    # the reviewer's own notice is still unread: read marks are per person
    assert [n["unread"] for n in api("reviewer-a").get("/api/notifications/").json()["results"]] == [True]


def test_operators_find_their_notices_on_their_own_tab(web, flow):
    flow.approved()
    scan = web("operator-1").get("/scan/")
    alerts = next(item for item in scan.context["menu"] if item["key"] == "alerts")
    assert alerts["badge"] == 1
    assert "送至本仓" in text_of(web("operator-1").get("/alerts/"))
    assert "送至本仓" not in text_of(web("operator-2").get("/alerts/"))


# --- banners: seals and recalls ------------------------------------------------------------


@pytest.fixture
def two_sealed(api, clock):
    """Two batches of merchant-a1 resting side by side in WH-1; one is positive, and the
    regulator seals both. merchant-a2's batch rests in WH-2: not concerned."""
    positive, beside = Flow(api), Flow(api)
    positive.resting()
    beside.resting()
    clock.shift(3600)
    positive.sample()
    positive.result("positive")
    incident = Incident.objects.get(batch__number=positive.number)
    url = f"/api/incidents/{incident.pk}/"
    answer = api("regulator").post(
        url + "seal/", {"batches": [positive.number, beside.number], "reason": "同区静置"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    return {"positive": positive.number, "beside": beside.number, "url": url}


def banner(web, username, path="/"):
    page = web(username).get(path)
    html = page.content.decode()
    if 'data-testid="seal-banner"' not in html:
        return None
    start = html.index('data-testid="seal-banner"')
    return html[start : html.index("</section>", start)]


def test_the_seal_banner_names_every_sealed_batch_until_each_is_lifted(api, web, two_sealed):
    s = two_sealed
    for path in ("/", "/batches/", "/sales/", "/sales/new/", "/alerts/"):
        shown = banner(web, "merchant-a1", path)
        assert shown is not None, path
        assert s["positive"] in shown and s["beside"] in shown and "2 个批次被封存" in shown, path
    assert banner(web, "merchant-a2") is None and banner(web, "operator-1", "/scan/") is None
    # each seal is also a notice of its own, one per batch
    sealed = [n for n in told(api, "merchant-a1") if n[0] == "sealed"]
    assert sorted(sealed) == sorted([("sealed", s["positive"]), ("sealed", s["beside"])])
    # read or not, the banner stays while the seal holds
    web("merchant-a1").post("/alerts/read/")
    assert banner(web, "merchant-a1") is not None

    api("regulator").post(s["url"] + "lift-seal/", {"batches": [s["beside"]], "reason": "复检阴性"}, format="json")

    shown = banner(web, "merchant-a1")
    assert s["positive"] in shown and s["beside"] not in shown and "1 个批次被封存" in shown
    assert told(api, "merchant-a1")[0] == ("unsealed", s["beside"])
    api("regulator").post(s["url"] + "lift-seal/", {"batches": [s["positive"]]}, format="json")
    assert banner(web, "merchant-a1") is None


def test_the_seal_banner_is_in_english_too(web, two_sealed):
    page = web("merchant-a1").get("/?lang=en").content.decode()
    assert "2 of your batches are sealed" in page and two_sealed["beside"] in page


def test_one_recall_banner_names_every_recalled_batch_and_one_reading_clears_it(web, api, new_flow):
    first, second = new_flow().to("approved"), new_flow().to("approved")
    for batch in (first, second):
        batch.post("regulator", "recall", {"reason": "境外通报"})
    page = web("merchant-a1").get("/batches/").content.decode()
    assert page.count('data-testid="recall-banner"') == 1
    assert first.number in page and second.number in page and "2 个批次被召回" in page
    ids = list(Notification.objects.filter(kind="recall").values_list("pk", flat=True))
    other = Notification.objects.filter(recipient__username="operator-1").first()

    web("merchant-a1").post(f"/notices/{ids[0]}/ack/", {"next": "/batches/", "also": [*map(str, ids), str(other.pk)]})

    assert 'data-testid="recall-banner"' not in web("merchant-a1").get("/batches/").content.decode()
    other.refresh_from_db()
    assert other.read_at is None  # another person's notice is not theirs to mark
