"""Hardening after review: inputs that must answer 4xx and never 500 (oversized serials and
ids, NUL characters, impossible dates, bad redirect targets), personal data kept out of the
merchant's pages, the idempotency records and the trace URLs, times shown in Asia/Shanghai (R8),
the recall all-or-nothing with its buyer list, and a stale arrival check refused (R7)."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from batches.codes import parse_code_scan
from batches.models import Batch, Code, Event, IdempotencyRecord, Status
from markets.models import Merchant, Sale, TraceQuery, mobile_validator, normalize_mobile
from tests.conftest import BUYER, declaration
from tests.test_web_support import formset_data, messages_of, text_of

GTIN = "09506000134352"
HUGE = "99999999999999999999999"
PHONE, MASKED = "13912345678", "139****5678"


def digital_link(number, serial):
    return f"http://localhost:8000/01/{GTIN}/10/{number}/21/{serial}"


# --- 1. a Digital Link with a huge serial ---------------------------------------------------


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


# --- 2. NUL characters ----------------------------------------------------------------------


def NUL_REFUSED() -> str:  # upper case as a constant: Django's own message, in the language the API speaks
    from django.core.validators import ProhibitNullCharactersValidator
    from django.utils import translation

    with translation.override("zh-hans"):
        return str(ProhibitNullCharactersValidator.message)


def test_nul_characters_in_the_path_or_the_query_answer_400(api, web):
    assert api("merchant-a1").get("/api/batches/a%00b/").status_code == 400
    assert api("operator-1").get("/api/scan/", {"value": "\x00x"}).status_code == 400
    assert api("operator-1").get("/api/scan/%00x/").status_code == 400
    assert web("merchant-a1").get("/batches/", {"q": "\x00"}).status_code == 400
    answer = web("merchant-a1").post("/batches/new/", {"customs_declaration_no": "31\x00", "then": "draft"})
    assert answer.status_code == 400 and Batch.objects.count() == 0


def test_nul_characters_in_a_market_or_warehouse_code_are_field_errors(api, flow):
    answer = api("merchant-a1").post("/api/batches/", declaration(market="MKT-A\x00"), format="json")
    assert answer.status_code == 400 and NUL_REFUSED() in str(answer.json()["market"])
    flow.submitted()
    answer = api("reviewer-a").post(f"/api/batches/{flow.number}/approve/", {"warehouse": "WH-1\x00"}, format="json")
    assert answer.status_code == 400 and NUL_REFUSED() in str(answer.json()["warehouse"])
    assert Batch.objects.get(number=flow.number).status == Status.SUBMITTED
    # DRF's own CharFields (text, list items) refuse them already
    answer = api("merchant-a1").post("/api/batches/", declaration(customs_declaration_no="31\x00"), format="json")
    assert answer.status_code == 400 and NUL_REFUSED() in str(answer.json()["customs_declaration_no"])
    answer = api("merchant-a1").post("/api/sales/", {"codes": ["A\x00"], **BUYER}, format="json")
    assert answer.status_code == 400 and NUL_REFUSED() in str(answer.json()["codes"])


# --- 3. the `next` target of a web action ---------------------------------------------------


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


# --- 4. mobile numbers: ASCII digits only, full-width input normalised ----------------------


def test_the_mobile_rule_takes_ascii_digits_only():
    mobile_validator("13912345678")
    mobile_validator("+8613912345678")
    for value in ("１３９１２３４５６７８", "1٣٩١٢٣٤٥٦٧٨"):
        with pytest.raises(ValidationError):
            mobile_validator(value)
    assert normalize_mobile("＋８６ １３９ １２３４ ５６７８") == PHONE


def test_a_full_width_phone_is_stored_in_ascii_and_other_digits_are_refused(flow, clock, sell):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone="１３９１２３４５６７８")
    assert Sale.objects.get().buyer_phone == PHONE
    refused = sell([codes[1]["token"]], buyer_phone="1٣٩١٢٣٤٥٦٧٨", expect=400)
    assert "buyer_phone" in refused and Sale.objects.count() == 1


# --- 5. the merchant's sales page -----------------------------------------------------------


def test_the_merchants_sales_page_shows_buyer_phones_masked(web, flow, clock, sell):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone=PHONE)
    page = web("merchant-a1").get("/sales/").content.decode()
    assert MASKED in page and PHONE not in page


# --- 6. no personal data kept in idempotency records; records expire ------------------------


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


# --- 7. impossible dates in the web trace period --------------------------------------------


@pytest.mark.parametrize(
    "query", [{"from": "2024-02-30"}, {"to": "9999-12-31"}, {"from": "0001-01-01"}, {"to": "2024-13-01"}]
)
def test_an_impossible_period_is_a_form_error_not_a_500(web, flow, query):
    flow.declare()
    merchant_id = Batch.objects.get(number=flow.number).merchant_id
    page = web("regulator").get(f"/trace/merchants/{merchant_id}/", query)
    assert page.status_code == 400 and page.context["period_error"]
    assert list(page.context["sales"]) == [] and page.context["period_error"] in text_of(page)


def test_a_possible_period_still_filters(web, flow, clock, sell):
    codes = flow.released(clock)
    sell([codes[0]["token"]])
    merchant_id = Batch.objects.get(number=flow.number).merchant_id
    today = timezone.localdate().isoformat()
    page = web("regulator").get(f"/trace/merchants/{merchant_id}/", {"from": today, "to": today})
    assert page.status_code == 200 and len(page.context["sales"]) == 1


# --- 8. merchant ids that are not ids -------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", HUGE, "²", "١", "-1"])
def test_the_review_queue_filter_by_a_bad_merchant_id_is_empty(web, flow, value):
    flow.submitted()
    page = web("reviewer-a").get("/review/", {"merchant": value})
    assert page.status_code == 200 and list(page.context["batches"]) == []


@pytest.mark.parametrize("value", ["abc", HUGE, "²", "-1"])
def test_the_sales_list_refuses_a_bad_merchant_id(api, value):
    answer = api("regulator").get("/api/sales/", {"merchant": value})
    assert answer.status_code == 400 and "merchant" in answer.json()


def test_the_sales_list_still_filters_by_merchant(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]])
    merchant_id = Merchant.objects.get(user__username="merchant-a1").pk
    assert api("regulator").get("/api/sales/", {"merchant": merchant_id}).json()["count"] == 1


# --- 9. R8: times shown in Asia/Shanghai ----------------------------------------------------


def test_scan_shows_code_times_in_shanghai(flow, clock, api):
    flow.released(clock)
    token = Code.objects.filter(batch__number=flow.number).first().token
    code = api("operator-1").get(f"/api/scan/{token}/").json()["code"]
    assert code["issued_at"].endswith("+08:00") and code["released_at"].endswith("+08:00")


def test_rest_until_in_event_details_is_shanghai_time(flow, clock, new_flow):
    from batches.lifecycle import complete_rest
    from batches.tasks import sweep_due_rests

    flow.resting()
    timed = new_flow()
    timed.resting()
    clock.shift(7 * 24 * 3600 + 1)
    complete_rest(Batch.objects.get(number=timed.number).pk)
    sweep_due_rests()
    for number in (flow.number, timed.number):
        batch = Batch.objects.get(number=number)
        for action in ("move_to_resting", "complete_rest"):
            details = Event.objects.get(batch=batch, action=action).details
            assert details["rest_until"] == timezone.localtime(batch.rest_until).isoformat(), (number, action)
            assert details["rest_until"].endswith("+08:00")


# --- 10. R7: the arrival check names the status the scanner saw -----------------------------


def test_an_arrival_check_for_a_status_the_batch_no_longer_has_is_refused(flow, api):
    flow.approved()
    path = f"/api/batches/{flow.number}/arrive/"
    stale = api("operator-1").post(path, {"lines": flow.arrival(), "status": "discrepancy"}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "invalid_transition"
    assert stale.json()["status"] == "approved"
    bad = api("operator-1").post(path, {"lines": flow.arrival(), "status": "nonsense"}, format="json")
    assert bad.status_code == 400 and "status" in bad.json()
    first = api("operator-1").post(path, {"lines": flow.arrival(short_by=1), "status": "approved"}, format="json")
    assert first.status_code == 200 and first.json()["status"] == "discrepancy"
    again = api("operator-1").post(path, {"lines": flow.arrival(), "status": "approved"}, format="json")
    assert again.status_code == 409 and again.json()["status"] == "discrepancy"
    recheck = api("operator-1").post(path, {"lines": flow.arrival(), "status": "discrepancy"}, format="json")
    assert recheck.status_code == 200 and recheck.json()["status"] == "pre_storage"
    assert Event.objects.filter(batch__number=flow.number, action="arrive").count() == 2


def test_the_web_arrival_form_sends_the_status_it_was_shown_with(web, flow):
    flow.approved()
    page = web("operator-1").get(f"/batches/{flow.number}/").content.decode()
    assert '<input type="hidden" name="status" value="approved">' in page
    lines = list(Batch.objects.get(number=flow.number).lines.all())
    rows = [
        {"line": line.pk, "received_quantity": line.quantity, "type_matches": True, "spec_matches": True}
        for line in lines
    ]
    stale = web("operator-1").post(
        f"/batches/{flow.number}/do/arrive/", formset_data("arrival", rows, status="discrepancy")
    )
    assert stale.status_code == 409 and Batch.objects.get(number=flow.number).status == Status.APPROVED
    done = web("operator-1").post(
        f"/batches/{flow.number}/do/arrive/", formset_data("arrival", rows, status="approved")
    )
    assert done.status_code == 302 and Batch.objects.get(number=flow.number).status == Status.PRE_STORAGE


# --- 11. web edit of a batch that is no longer a draft --------------------------------------


def test_the_edit_page_of_a_submitted_batch_goes_back_to_the_batch_and_a_post_is_409(web, flow):
    flow.submitted()
    page = web("merchant-a1").get(f"/batches/{flow.number}/edit/")
    assert page.status_code == 302 and page["Location"] == f"/batches/{flow.number}/"
    followed = web("merchant-a1").get(f"/batches/{flow.number}/edit/", follow=True)
    assert "不能执行此操作" in " ".join(messages_of(followed))
    form = {
        "customs_declaration_no": "310120261129000009",
        "origin_country": "法国",
        "port_of_entry": "上海浦东",
        **formset_data(
            "lines",
            [{"product_name": "羊毛大衣", "category": "服装", "specification": "M", "quantity": 3, "unit": "件"}],
        ),
        "then": "draft",
    }
    answer = web("merchant-a1").post(f"/batches/{flow.number}/edit/", form)
    assert answer.status_code == 409 and Batch.objects.get(number=flow.number).origin_country != "法国"


# --- 12. the recall is all-or-nothing with its buyer list and audit record ------------------


def _failing_audit(monkeypatch):
    import markets.services

    def refuse(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(markets.services, "trace_query_record", refuse)


def test_an_api_recall_whose_audit_record_fails_recalls_nothing(flow, clock, api, monkeypatch):
    flow.released(clock)
    _failing_audit(monkeypatch)
    with pytest.raises(RuntimeError):
        api("regulator").post(f"/api/batches/{flow.number}/recall/", {"reason": "召回"}, format="json")
    assert Batch.objects.get(number=flow.number).status == Status.RELEASED
    assert not Event.objects.filter(batch__number=flow.number, action="recall").exists()


def test_a_web_recall_whose_audit_record_fails_recalls_nothing(web, flow, clock, monkeypatch):
    flow.released(clock)
    _failing_audit(monkeypatch)
    with pytest.raises(RuntimeError):
        web("regulator").post(f"/batches/{flow.number}/do/recall/", {"recall-reason": "召回"})
    assert Batch.objects.get(number=flow.number).status == Status.RELEASED
    assert not Event.objects.filter(batch__number=flow.number, action="recall").exists()


# --- 13. the web trace search keeps phones out of URLs --------------------------------------


def test_the_trace_search_is_a_post_with_csrf_and_a_get_searches_nothing(web, flow, clock, sell):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone=PHONE)
    for path in ("/trace/", "/dashboard/"):
        html = web("regulator").get(path).content.decode()
        form = html[html.index('action="/trace/"') - 60 :]
        assert 'method="post" action="/trace/"' in html and "csrfmiddlewaretoken" in form[:600], path
    assert TraceQuery.objects.count() == 0
    found = web("regulator").post("/trace/", {"q": PHONE})
    assert found.status_code == 200 and codes[0]["token"] in found.content.decode()
    assert TraceQuery.objects.filter(kind="search").count() == 1
    ignored = web("regulator").get("/trace/", {"q": PHONE})
    assert ignored.status_code == 200 and codes[0]["token"] not in ignored.content.decode()
    assert TraceQuery.objects.filter(kind="search").count() == 1
    # A code still opens its chain (a redirect to a URL with the token, not the phone)
    chain = web("regulator").post("/trace/", {"q": codes[0]["token"]})
    assert chain.status_code == 302 and chain["Location"] == f"/trace/codes/{codes[0]['token']}/"


def test_the_trace_search_needs_the_csrf_token(world):
    from django.contrib.auth import get_user_model

    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="regulator"))
    assert client.post("/trace/", {"q": PHONE}).status_code == 403
    assert TraceQuery.objects.count() == 0
