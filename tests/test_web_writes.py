"""Field writes done once (batches/web/writes.py, docs/web.md): a form sent again with the key
it was shown with — a resubmit after a lost answer, the device queue's retry — shows the first
result instead of a refusal, and nothing is done twice; the queue's answers in JSON; a write
queued by someone else is never done under another session; a refusal keeps no record."""

import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from batches.models import Attachment, Code, Disinfection, Event, IdempotencyRecord
from markets.models import Sale
from tests.test_web_support import messages_of, text_of

from .conftest import BUYER


def released(flow, clock):
    flow.coded(clock)
    flow.post("operator-1", "release", {"all": True})
    return list(Code.objects.filter(batch__number=flow.number).order_by("item_no"))


def shown_key(page) -> str:
    """The key a form was shown with (`{% write_key %}`)."""
    return re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page.content.decode()).group(1)


def queue_headers(web, username, key, mode="later"):
    user = web(username).session["_auth_user_id"]
    return {"Idempotency-Key": key, "X-Field-Queue": mode, "X-Field-User": str(user), "Accept": "application/json"}


def sale_form(codes, key):
    return {**BUYER, "codes": "\n".join(c.token for c in codes), "idempotency_key": key}


def test_a_sale_sent_again_after_a_lost_answer_shows_the_first_result(web, flow, clock):
    codes = released(flow, clock)[:2]
    merchant = web("merchant-a1")
    form = merchant.get("/sales/new/")
    key = shown_key(form)
    assert shown_key(merchant.get("/sales/new/")) != key  # each form shown gets its own
    first = merchant.post("/sales/new/", sale_form(codes, key), follow=True)
    sale = Sale.objects.get()
    assert f"销售单 {sale.pk} 已登记" in messages_of(first)[0]
    # The answer was lost; the browser sends the same form again
    clock.shift(60)
    again = merchant.post("/sales/new/", sale_form(codes, key), follow=True)
    when = timezone.localtime(sale.sold_at).strftime("%H:%M")
    assert messages_of(again) == [f"已于 {when} 售出，销售单 #{sale.pk}（2 件）。"]
    assert again.redirect_chain[-1][0] == "/sales/" and "有问题" not in text_of(again)
    assert Sale.objects.count() == 1 and sale.items.count() == 2
    # Without the key the same codes are refused as sold, as before (nothing doubled either way)
    refused = merchant.post("/sales/new/", {**BUYER, "codes": "\n".join(c.token for c in codes)})
    assert refused.status_code == 400 and "已售出" in text_of(refused) and Sale.objects.count() == 1


def test_the_device_queue_gets_the_result_in_json_and_the_same_on_a_retry(web, flow, clock):
    codes = released(flow, clock)[:2]
    merchant = web("merchant-a1")
    key = shown_key(merchant.get("/sales/new/"))
    headers = queue_headers(web, "merchant-a1", key)
    first = merchant.post("/sales/new/", sale_form(codes, key), headers=headers)
    sale = Sale.objects.get()
    assert first.status_code == 200 and first.json()["outcome"] == "done" and first.json()["replayed"] is False
    assert first.json()["next"] == "/sales/" and f"销售单 #{sale.pk}" in first.json()["message"]
    retry = merchant.post("/sales/new/", sale_form(codes, key), headers=headers)
    assert retry.json() == {**first.json(), "replayed": True}
    assert Sale.objects.count() == 1
    # Sent in the background ("later"), nothing is said on the next page; "now" says it there
    assert messages_of(merchant.get("/sales/")) == []
    assert IdempotencyRecord.objects.get(key=key).body["sale"] == sale.pk
    assert BUYER["buyer_name"] not in str(IdempotencyRecord.objects.get(key=key).body)  # no personal data kept


def test_a_queued_write_is_done_only_for_the_person_who_queued_it(web, flow, clock):
    codes = released(flow, clock)[:2]
    key = shown_key(web("merchant-a1").get("/sales/new/"))
    theirs = queue_headers(web, "merchant-a1", key)
    # Someone else signed in on the same device: the queue's entry names merchant-a1
    answer = web("merchant-a2").post("/sales/new/", sale_form(codes, key), headers=theirs)
    assert answer.status_code == 409 and answer.json()["outcome"] == "not_yours"
    assert Sale.objects.count() == 0 and not IdempotencyRecord.objects.exists()


def test_a_refused_queued_write_says_why_and_keeps_no_record(web, flow, clock):
    codes = released(flow, clock)[:2]
    flow.post("regulator", "recall", {"reason": "境外通报阳性"})
    merchant = web("merchant-a1")
    key = shown_key(merchant.get("/sales/new/"))
    answer = merchant.post("/sales/new/", sale_form(codes, key), headers=queue_headers(web, "merchant-a1", key))
    assert answer.status_code == 400 and answer.json()["outcome"] == "refused"
    assert "未售出任何商品" in answer.json()["message"] and "召回" in " ".join(answer.json()["errors"])
    assert not IdempotencyRecord.objects.filter(key=key).exists() and Sale.objects.count() == 0
    # Nothing is left in the session for a later page
    assert messages_of(merchant.get("/sales/")) == []
    # A bad buyer field: the form's errors in words
    bad = merchant.post(
        "/sales/new/", {**sale_form(codes, key), "buyer_phone": "123"}, headers=queue_headers(web, "merchant-a1", key)
    )
    assert bad.status_code == 400 and any("手机" in line for line in bad.json()["errors"])


def test_a_release_sent_again_shows_the_first_result(web, flow, clock):
    flow.coded(clock)
    number = flow.number
    codes = list(Code.objects.filter(batch__number=number).order_by("item_no"))[:3]
    operator = web("operator-1")
    key = shown_key(operator.get(f"/warehouse/release/{number}/"))
    form = {"codes": "\n".join(c.token for c in codes), "idempotency_key": key}
    first = operator.post(f"/warehouse/release/{number}/", form, follow=True)
    assert "3 个追溯码已出仓" in messages_of(first)[0]
    again = operator.post(f"/warehouse/release/{number}/", form, follow=True)
    assert re.fullmatch(rf"已于 \d\d:\d\d 出仓：批次 {number} 的 3 个追溯码。", messages_of(again)[0])
    assert again.redirect_chain[-1][0] == f"/scan/?q={number}"
    assert Event.objects.filter(batch__number=number, action="release").count() == 1
    queued = operator.post(f"/warehouse/release/{number}/", form, headers=queue_headers(web, "operator-1", key))
    assert queued.json()["outcome"] == "done" and queued.json()["replayed"] is True


def test_the_batch_cards_records_and_photos_are_done_once(web, flow, clock):
    flow.pre_storage()
    number = flow.number
    operator = web("operator-1")
    card = operator.get("/scan/", {"q": number}).content.decode()
    form = re.search(r'<form[^>]*data-action="disinfect".*?</form>', card, re.S).group(0)
    assert "data-queue" in form and 'name="idempotency_key"' in form
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', form).group(1)
    body = {
        "disinfect-agent": "含氯消毒剂",
        "disinfect-concentration": "500 mg/L",
        "disinfect-method": "喷洒",
        "idempotency_key": key,
        "next": f"/scan/?q={number}",
    }
    url = f"/batches/{number}/do/disinfect/"
    first = operator.post(url, body, follow=True)
    done = messages_of(first)[0]
    assert "消毒" in done and not done.startswith("已于 ")
    again = operator.post(url, body, follow=True)
    assert re.fullmatch(rf"已于 \d\d:\d\d 记录：{re.escape(done)}", messages_of(again)[0]), messages_of(again)
    assert Disinfection.objects.filter(batch__number=number).count() == 1
    # A photo, sent twice with one key, is attached once
    photo = {"kind": "disinfection", "note": "", "idempotency_key": "k-photo-1"}

    def upload():
        return SimpleUploadedFile("p.png", PNG, content_type="image/png")

    first = operator.post(f"/batches/{number}/photos/", {**photo, "file": upload()}, follow=True)
    assert "照片已添加" in messages_of(first)[0]
    again = operator.post(f"/batches/{number}/photos/", {**photo, "file": upload()}, follow=True)
    assert Attachment.objects.filter(batch__number=number).count() == 1
    assert re.fullmatch(rf"已于 \d\d:\d\d 添加照片：批次 {number}。", messages_of(again)[0])


def test_the_api_replays_its_first_answer_too(api, flow, clock, sell):
    codes = released(flow, clock)[:2]
    first = sell([c.token for c in codes], headers={"Idempotency-Key": "api-1"})
    again = api("merchant-a1").post(
        "/api/sales/", {"codes": [c.token for c in codes], **BUYER}, format="json", headers={"Idempotency-Key": "api-1"}
    )
    assert again.status_code == 201 and again.json() == first and again["Idempotent-Replayed"] == "true"
    assert Sale.objects.count() == 1


def test_a_write_waits_on_the_device_less_long_than_the_server_keeps_its_key(web):
    page = web("merchant-a1").get("/sales/new/").content.decode()
    ttl = int(re.search(r'data-ttl="(\d+)"', page).group(1))
    assert 0 < ttl < settings.IDEMPOTENCY_TTL_HOURS * 3600
    assert "data-offline-note" not in web(None).get("/accounts/login/").content.decode()  # signed out: no queue


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.mark.django_db(transaction=True)
def test_the_same_form_sent_twice_at_the_same_moment_is_done_once_and_both_get_its_result(flow, clock):
    """The queue's retry arrives while the first request is still being done: the second waits
    for the first's record and answers with its result, not with "already sold"."""
    from tests.test_concurrency import at_once

    codes = released(flow, clock)[:2]
    user = get_user_model().objects.get(username="merchant-a1")
    clients = []
    for _ in range(2):
        client = Client()
        client.force_login(user)
        clients.append(client)
    key = "same-moment-1"
    headers = {"Idempotency-Key": key, "X-Field-Queue": "later", "X-Field-User": str(user.pk)}
    answers = at_once(*(lambda c=c: c.post("/sales/new/", sale_form(codes, key), headers=headers) for c in clients))
    assert [a.status_code for a in answers] == [200, 200], [a.content[:300] for a in answers]
    assert sorted(a.json()["replayed"] for a in answers) == [False, True]
    assert answers[0].json()["message"] == answers[1].json()["message"]
    assert Sale.objects.count() == 1 and IdempotencyRecord.objects.filter(key=key).count() == 1
