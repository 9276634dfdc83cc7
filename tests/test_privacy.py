"""Privacy (docs/contract.md §5): a buyer's phone in full only to regulators; merchants see their own
buyers with the phone masked; nothing personal in events, notifications, stored answers, the
record of trace queries or the logs."""

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from batches.models import Event, IdempotencyRecord, Notification
from markets.models import TraceQuery
from markets.services import phone_digest

PHONE, NAME = "13912345678", "王小姐"
MASKED = "139****5678"


def test_merchants_see_their_own_buyers_with_the_phone_masked(flow, clock, sell, api):
    codes = flow.released(clock)

    sale = sell([codes[0]["token"]], buyer_name=NAME, buyer_phone=PHONE)

    assert (sale["buyer_name"], sale["buyer_phone"]) == (NAME, MASKED)
    listed = api("merchant-a1").get("/api/sales/").json()["results"][0]
    assert (listed["buyer_name"], listed["buyer_phone"]) == (NAME, MASKED)
    assert api("merchant-a1").get(f"/api/sales/{sale['id']}/").json()["buyer_phone"] == MASKED
    assert api("regulator").get(f"/api/sales/{sale['id']}/").json()["buyer_phone"] == PHONE
    assert api("regulator").get("/api/sales/").json()["results"][0]["buyer_phone"] == PHONE


def test_nothing_personal_in_batch_pages_events_notifications_or_stored_answers(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_name=NAME, buyer_phone=PHONE, headers={"Idempotency-Key": "receipt-1"})
    flow.post("regulator", "recall", {"reason": "召回"})

    for username in ("merchant-a1", "operator-1", "reviewer-a", "regulator"):
        for path in (
            f"/api/batches/{flow.number}/",
            f"/api/batches/{flow.number}/events/",
            f"/api/batches/{flow.number}/codes/",
            "/api/notifications/",
        ):
            text = api(username).get(path).content.decode()
            assert PHONE not in text and NAME not in text, (username, path)
    personal = Q(details__icontains=PHONE) | Q(details__icontains=NAME)
    assert not Event.objects.filter(personal).exists()
    assert not Notification.objects.filter(Q(body__contains=PHONE) | Q(body__contains=NAME)).exists()
    # The idempotent replay of the merchant's sale keeps what the merchant was shown: masked.
    assert PHONE not in str(IdempotencyRecord.objects.get(key="receipt-1").body)


def test_the_record_of_trace_queries_never_holds_a_buyers_phone(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone=PHONE)

    found = api("regulator").get("/api/trace/search/", {"q": f"+86{PHONE}"}).json()

    assert found["sales"][0]["buyer_phone"] == PHONE  # the regulator gets the answer...
    record = TraceQuery.objects.get(kind="search")
    assert PHONE not in record.subject and PHONE not in str(record.parameters)  # ...the record does not keep it
    assert record.subject == MASKED
    # An auditor can still check whether this number was looked up.
    assert record.parameters["phone_digests"] == [phone_digest(PHONE)]


def test_nothing_personal_in_the_logs(flow, clock, sell, api, caplog):
    codes = flow.released(clock)
    regulator = api("regulator")

    with caplog.at_level(logging.DEBUG):
        sale = sell([codes[0]["token"]], buyer_name=NAME, buyer_phone=PHONE)
        sell(["AAAAAAAAAAAAAAAAAAAAAAAA"], buyer_name=NAME, buyer_phone=PHONE, expect=400)
        sell([codes[1]["token"]], buyer_name=NAME, buyer_phone="12345", expect=400)
        regulator.get(f"/api/trace/codes/{codes[0]['token']}/")
        regulator.get(f"/api/trace/batches/{flow.number}/")
        regulator.get("/api/trace/search/", {"q": PHONE})
        b"".join(regulator.get(f"/api/trace/merchants/{sale['merchant']['id']}/sales/?format=csv").streaming_content)
        api("merchant-a1").post(f"/api/sales/{sale['id']}/void/", {"reason": "退货"}, format="json")
        flow.post("regulator", "recall", {"reason": "召回"})

    assert caplog.records  # the requests above were logged (e.g. Bad Request warnings)...
    assert PHONE not in caplog.text and NAME not in caplog.text  # ...without the buyer


def test_the_admin_shows_buyers_phones_masked(flow, clock, sell, client):
    from django.contrib.auth import get_user_model

    codes = flow.released(clock)
    sale = sell([codes[0]["token"]], buyer_phone=PHONE)
    client.force_login(get_user_model().objects.create_superuser("root", password="x"))

    for path in ("/admin/markets/sale/", f"/admin/markets/sale/{sale['id']}/change/"):
        page = client.get(path).content.decode()
        assert MASKED in page and PHONE not in page, path


def test_a_phone_can_be_searched_for_without_putting_it_in_a_url(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone=PHONE)

    response = api("regulator").post("/api/trace/search/", {"q": PHONE}, format="json")

    assert response.status_code == 200 and response.json()["sales"][0]["codes"] == [codes[0]["token"]]
    assert api("merchant-a1").post("/api/trace/search/", {"q": PHONE}, format="json").status_code == 403
    assert TraceQuery.objects.get(kind="search").subject == MASKED


# --- the merchant's sales page ----------------------------------------------------------------


def test_the_merchants_sales_page_shows_buyer_phones_masked(web, flow, clock, sell):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone=PHONE)
    page = web("merchant-a1").get("/sales/").content.decode()
    assert MASKED in page and PHONE not in page


# --- no personal data kept in idempotency records; records expire -----------------------------


def test_a_recall_replay_rebuilds_the_buyers_and_the_record_keeps_none(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_name="王小姐", buyer_phone=PHONE)
    key = {"HTTP_IDEMPOTENCY_KEY": "recall-1"}
    path = f"/api/batches/{flow.number}/recall/"
    first = api("regulator").post(path, {"reason": "召回"}, format="json", **key)
    assert first.status_code == 200 and first.json()["buyers"][0]["buyer_phone"] == PHONE
    stored = str(IdempotencyRecord.objects.get(key="recall-1").body)
    assert PHONE not in stored and "王小姐" not in stored and MASKED not in stored
    again = api("regulator").post(path, {"reason": "召回"}, format="json", **key)
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Event.objects.filter(batch__number=flow.number, action="recall").count() == 1


def test_idempotency_records_older_than_the_ttl_are_deleted(api, settings):
    from django.contrib.auth import get_user_model

    from batches.tasks import purge_idempotency_records

    assert (
        settings.CELERY_BEAT_SCHEDULE["purge-idempotency-records"]["task"] == "batches.tasks.purge_idempotency_records"
    )
    settings.IDEMPOTENCY_TTL_HOURS = 24
    user = get_user_model().objects.get(username="regulator")
    old = IdempotencyRecord.objects.create(user=user, key="old", fingerprint="x", status_code=200, body={})
    IdempotencyRecord.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyRecord.objects.create(user=user, key="new", fingerprint="x", status_code=200, body={})
    assert purge_idempotency_records() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
