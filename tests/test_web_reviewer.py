"""The market reviewer's pages: the approval queue (oldest first, filters, badge), the
declaration, approve with a serving warehouse, reject with a reason."""

import pytest

from batches.models import Batch, Status
from tests.conftest import Flow
from tests.test_web_support import messages_of, text_of

HUGE = "99999999999999999999999"


def test_the_queue_lists_submitted_batches_of_the_market_oldest_first_with_a_badge(web, api, clock):
    first, second = Flow(api), Flow(api, merchant="merchant-a2")
    first.submitted()
    clock.shift(3600)
    second.submitted()
    Flow(api).declare()  # a draft is not in the queue
    page = web("reviewer-a").get("/review/")
    rows = [b.number for b in page.context["batches"]]
    assert rows == [first.number, second.number]
    badge = next(item for item in page.context["menu"] if item["key"] == "queue")["badge"]
    assert badge == 2 and 'data-testid="badge-queue"' in page.content.decode()
    # Filter by merchant and by text
    merchant_id = Batch.objects.get(number=second.number).merchant_id
    assert [b.number for b in web("reviewer-a").get(f"/review/?merchant={merchant_id}").context["batches"]] == [
        second.number
    ]
    assert [b.number for b in web("reviewer-a").get("/review/?q=意大利").context["batches"]] == rows
    # Another market's reviewer does not see them
    assert list(web("reviewer-b").get("/review/").context["batches"]) == []


def test_approve_with_a_warehouse_serving_the_market(web, flow):
    flow.submitted()
    page = web("reviewer-a").get(f"/batches/{flow.number}/")
    assert "羊毛大衣" in text_of(page) and "报关单号" in text_of(page)
    choices = [code for code, _label in page.context["forms"]["approve"].fields["warehouse"].choices]
    assert [str(c) for c in choices] == ["WH-1"]  # only warehouses serving market A
    answer = web("reviewer-a").post(f"/batches/{flow.number}/do/approve/", {"approve-warehouse": "WH-1"}, follow=True)
    batch = Batch.objects.get(number=flow.number)
    assert batch.status == Status.APPROVED and batch.warehouse.code == "WH-1"
    assert f"批次 {flow.number} 已批准。" in messages_of(answer)


def test_a_warehouse_not_serving_the_market_is_refused_with_the_form_kept(web, flow):
    flow.submitted()
    answer = web("reviewer-a").post(f"/batches/{flow.number}/do/approve/", {"approve-warehouse": "WH-2"})
    assert answer.status_code == 400
    assert Batch.objects.get(number=flow.number).status == Status.SUBMITTED


def test_reject_needs_a_reason_and_the_merchant_sees_it(web, flow):
    flow.submitted()
    empty = web("reviewer-a").post(f"/batches/{flow.number}/do/reject/", {"reject-reason": ""})
    assert empty.status_code == 400 and "该字段是必填项" in text_of(empty)
    answer = web("reviewer-a").post(
        f"/batches/{flow.number}/do/reject/", {"reject-reason": "缺少原产地证明"}, follow=True
    )
    assert Batch.objects.get(number=flow.number).status == Status.REJECTED
    assert "已驳回" in messages_of(answer)[0]
    assert "缺少原产地证明" in text_of(web("merchant-a1").get(f"/batches/{flow.number}/"))
    # Already decided: a second decision is refused in words (409)
    again = web("reviewer-a").post(f"/batches/{flow.number}/do/approve/", {"approve-warehouse": "WH-1"})
    assert again.status_code == 409 and "批次当前为「已驳回」，不能执行此操作。" in messages_of(again)


# --- merchant ids that are not ids ------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", HUGE, "²", "١", "-1"])
def test_the_review_queue_filter_by_a_bad_merchant_id_is_empty(web, flow, value):
    flow.submitted()
    page = web("reviewer-a").get("/review/", {"merchant": value})
    assert page.status_code == 200 and list(page.context["batches"]) == []
