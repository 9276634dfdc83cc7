"""Recall (SPEC §3, §4): the regulator recalls a batch; unsold codes can no longer
be sold; the answer lists every buyer to contact; the merchant is notified; a recall of
100,000 codes is one set-based transaction, never half-applied."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batches import services
from batches.actors import actor_for
from batches.models import Batch, Code, Event, Notification, Status
from tests.conftest import LINES, Flow


def test_a_recall_answers_with_the_batch_and_every_buyer_to_contact(flow, clock, sell, api):
    codes = flow.released(clock)
    first = sell([codes[0]["token"], codes[1]["token"]], buyer_name="王小姐", buyer_phone="13912345678")
    clock.shift(3600)
    second = sell(
        [codes[2]["token"]], buyer_name="杭州某服饰有限公司", buyer_kind="business", buyer_phone="13700000009"
    )
    voided = sell([codes[3]["token"]], buyer_name="退货的人", buyer_phone="13600000006")
    api("merchant-a1").post(f"/api/sales/{voided['id']}/void/", {"reason": "退货"}, format="json")

    response = api("regulator").post(f"/api/batches/{flow.number}/recall/", {"reason": "境外疫情关联"}, format="json")

    assert response.status_code == 200, response.content
    recalled = response.json()
    assert recalled["status"] == "recalled" and recalled["number"] == flow.number
    assert recalled["codes"]["sold"] == 3 and recalled["codes"]["recalled"] == 2
    assert recalled["allowed_actions"] == []
    assert recalled["buyers"] == [
        {
            "sale": first["id"],
            "buyer_name": "王小姐",
            "buyer_phone": "13912345678",
            "buyer_kind": "consumer",
            "codes": [codes[0]["token"], codes[1]["token"]],
            "sold_at": first["sold_at"],
        },
        {
            "sale": second["id"],
            "buyer_name": "杭州某服饰有限公司",
            "buyer_phone": "13700000009",
            "buyer_kind": "business",
            "codes": [codes[2]["token"]],
            "sold_at": second["sold_at"],
        },
    ]
    event = Event.objects.filter(batch__number=flow.number).last()
    assert (event.action, event.status_before, event.status_after) == ("recall", "released", "recalled")
    assert (event.details["reason"], event.details["codes_recalled"], event.details["codes_sold"]) == (
        "境外疫情关联",
        2,
        3,
    )


def test_unsold_codes_of_a_recalled_batch_can_no_longer_be_sold(flow, clock, sell, api):
    flow.coded(clock)
    codes = flow.codes()
    flow.post("operator-1", "release", {"codes": [codes[0]["token"], codes[1]["token"]]})
    sell([codes[0]["token"]])

    flow.post("regulator", "recall", {"reason": "召回"})

    assert [c["status"] for c in flow.codes()] == ["sold", "recalled", "recalled", "recalled", "recalled"]
    assert "召回" in sell([codes[1]["token"]], expect=400)["codes"][codes[1]["token"]]


def test_the_merchant_concerned_is_notified(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_name="王小姐", buyer_phone="13912345678")

    flow.post("regulator", "recall", {"reason": "进口冷链关联风险"})

    notices = api("merchant-a1").get("/api/notifications/").json()["results"]
    # newest first: the recall, then the approval the merchant was told of before
    assert [(n["kind"], n["batch"]) for n in notices] == [("recall", flow.number), ("approved", flow.number)]
    assert flow.number in notices[0]["title"] and "进口冷链关联风险" in notices[0]["body"]
    assert "王小姐" not in notices[0]["body"] and "13912345678" not in notices[0]["body"]
    assert api("merchant-a2").get("/api/notifications/").json()["count"] == 0


def test_who_may_recall_and_when(flow, clock, api, new_flow):
    flow.approved()
    url = f"/api/batches/{flow.number}/recall/"
    body = {"reason": "召回"}

    assert api(None).post(url, body, format="json").status_code == 401
    assert api("merchant-b1").post(url, body, format="json").status_code == 404
    for username in ("merchant-a1", "reviewer-a"):
        assert api(username).post(url, body, format="json").status_code == 403
    assert api("regulator").post(url, {}, format="json").status_code == 400
    assert Batch.objects.get(number=flow.number).status == "approved"
    assert api("regulator").post(url, body, format="json").status_code == 200
    again = api("regulator").post(url, body, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"
    draft = new_flow()
    draft.declare()
    refused = api("regulator").post(f"/api/batches/{draft.number}/recall/", body, format="json")
    assert refused.status_code == 409 and refused.json()["status"] == "draft"


class HundredThousandFlow(Flow):
    """One line of 100,000 identical T-shirts."""

    def declare(self, **overrides):
        return super().declare(lines=[dict(LINES[1], quantity=100_000)], **overrides)


def test_a_recall_of_100000_codes_is_one_set_based_transaction(api, clock, sell, django_assert_max_num_queries):
    flow = HundredThousandFlow(api)
    flow.coded(clock)
    flow.post("operator-1", "release", {"all": True})
    tokens = list(
        Code.objects.filter(batch__number=flow.number).order_by("item_no").values_list("token", flat=True)[:3]
    )
    sell(tokens[:2])
    regulator = api("regulator")

    with django_assert_max_num_queries(30), CaptureQueriesContext(connection) as queries:
        response = regulator.post(f"/api/batches/{flow.number}/recall/", {"reason": "召回"}, format="json")

    assert response.status_code == 200, response.content[:500]
    assert response.json()["codes"] == {
        "total": 100_000,
        "in_warehouse": 0,
        "released": 0,
        "sold": 2,
        "recalled": 99_998,
    }
    assert [buyer["codes"] for buyer in response.json()["buyers"]] == [tokens[:2]]
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and "batches_code" in q["sql"]]
    assert len(updates) == 1  # one UPDATE for every code, no save() per row


def test_a_recall_that_fails_half_way_leaves_nothing_changed(flow, clock, monkeypatch):
    codes = flow.released(clock)
    regulator = actor_for(get_user_model().objects.get(username="regulator"))

    def broken(*args, **kwargs):
        raise RuntimeError("mail server on fire")

    monkeypatch.setattr(Notification.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        services.batch_recall(batch=Batch.objects.get(number=flow.number), actor=regulator, reason="召回")

    assert Batch.objects.get(number=flow.number).status == "released"
    assert {c["status"] for c in flow.codes()} == {"released"} and len(codes) == 5
    assert not Event.objects.filter(batch__number=flow.number, action="recall").exists()


def test_the_public_page_behind_a_recalled_code_says_so_and_nothing_personal(flow, clock, sell, client):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_name="王小姐", buyer_phone="13912345678")
    flow.post("regulator", "recall", {"reason": "召回"})

    for code in (codes[0], codes[1]):  # the sold one and an unsold one
        page = client.get(f"/c/{code['token']}").content.decode()
        assert "该批次商品已被召回" in page
        assert "王小姐" not in page and "13912345678" not in page and "13800000001" not in page


# --- the recall is all-or-nothing with its buyer list and audit record ------------------------


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
