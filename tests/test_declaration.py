"""Declaration and approval (SPEC §1.1, §3, §4): a merchant declares, edits while draft and
submits; the market's reviewer works the approval queue, approves into a warehouse that
serves the market or rejects with a reason; a rejected batch is revised and resubmitted."""

import re
from datetime import UTC, datetime

from batches.models import Batch, Event
from tests.conftest import MARKET_B, MARKET_C, declaration

NUMBER_RE = re.compile(r"^MKT-[A-Z]-\d{8}-\d{4}$")


def numbers(response):
    assert response.status_code == 200, response.content
    return [row["number"] for row in response.json()["results"]]


# --- declare -------------------------------------------------------------------------------


def test_a_merchant_declares_a_draft_with_its_lines(flow):
    # when merchant-a1 declares two lines of goods into market A
    response = flow.api("merchant-a1").post("/api/batches/", declaration(), format="json")

    # then a draft exists, numbered, with the lines as declared and nothing received yet
    assert response.status_code == 201, response.content
    batch = response.json()
    assert batch["status"] == "draft"
    assert NUMBER_RE.match(batch["number"])
    assert (batch["market"], batch["warehouse"]) == ("MKT-A", None)
    assert batch["merchant"]["name"] == "杭州望江服饰商行"
    assert [(line["product_name"], line["quantity"], line["received_quantity"]) for line in batch["lines"]] == [
        ("羊毛大衣", 3, None),
        ("真丝围巾", 2, None),
    ]
    assert batch["lines"][0]["gtin"] == "09506000134352" and batch["lines"][1]["gtin"] == ""
    assert Batch.objects.get(number=batch["number"]).merchant.user.username == "merchant-a1"


def test_batch_numbers_name_the_market_and_the_day_in_hangzhou_and_never_repeat(flow, new_flow, clock):
    # given it is 16:30 UTC on 31 March, which is already 00:30 on 1 April in Hangzhou (R8)
    clock.move_to(datetime(2026, 3, 31, 16, 30, tzinfo=UTC))

    # when two merchants of market A and one of market B declare
    first = flow.declare()["number"]
    second = new_flow(merchant="merchant-a2").declare()["number"]
    other_market = new_flow(**MARKET_B).declare()["number"]

    # then each market counts its own batches of the local day
    assert (first, second, other_market) == ("MKT-A-20260401-0001", "MKT-A-20260401-0002", "MKT-B-20260401-0001")

    # and the next local day starts a new count
    clock.shift(24 * 3600)
    assert new_flow().declare()["number"] == "MKT-A-20260402-0001"
    assert Batch.objects.values("number").distinct().count() == 4


# --- edit while draft ----------------------------------------------------------------------


def test_a_draft_can_be_edited_and_its_lines_replaced(flow):
    # given a draft
    flow.declare()

    # when the merchant corrects the customs number and replaces the lines
    response = flow.api("merchant-a1").patch(
        f"/api/batches/{flow.number}/",
        {
            "customs_declaration_no": "310120261129000099",
            "lines": [
                {
                    "product_name": "羊绒针织衫",
                    "category": "服装",
                    "specification": "男款 L 码",
                    "quantity": 7,
                    "unit": "件",
                }
            ],
        },
        format="json",
    )

    # then the draft shows the correction and only the new line
    assert response.status_code == 200, response.content
    batch = response.json()
    assert batch["status"] == "draft"
    assert batch["customs_declaration_no"] == "310120261129000099"
    assert [(line["product_name"], line["quantity"]) for line in batch["lines"]] == [("羊绒针织衫", 7)]
    edit = Event.objects.filter(batch__number=flow.number, action="edit").get()
    assert edit.details["changed"] == ["customs_declaration_no", "lines"]


def test_a_submitted_batch_can_no_longer_be_edited(flow):
    # given a submitted batch
    flow.submitted()

    # when the merchant tries to change it
    response = flow.api("merchant-a1").patch(
        f"/api/batches/{flow.number}/", {"customs_declaration_no": "CHANGED"}, format="json"
    )

    # then the answer is 409 and the declaration stays as submitted
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["status"] == "submitted"
    assert flow.detail()["customs_declaration_no"] == declaration()["customs_declaration_no"]


def test_editing_cannot_touch_status_number_or_market(flow):
    flow.declare()
    before = flow.detail()

    response = flow.api("merchant-a1").patch(
        f"/api/batches/{flow.number}/", {"status": "stored", "number": "X", "market": "MKT-B"}, format="json"
    )

    assert response.status_code == 400
    assert set(response.json()) == {"status", "number", "market"}
    assert flow.detail() == before


# --- submit and the approval queue ---------------------------------------------------------


def test_submitting_hands_the_batch_to_the_market_reviewer(flow):
    flow.declare()

    submitted = flow.post("merchant-a1", "submit")

    assert submitted["status"] == "submitted"
    assert submitted["allowed_actions"] == []  # the merchant waits
    assert flow.detail("reviewer-a")["allowed_actions"] == ["approve", "reject"]


def test_the_approval_queue_is_the_markets_submitted_batches_oldest_first(flow, new_flow, clock):
    # given three batches of market A declared in one order and submitted in another,
    # a draft of market A, and a submitted batch of market B
    first, second, third = new_flow(), new_flow(merchant="merchant-a2"), new_flow()
    for batch in (first, second, third):
        batch.declare()
    for batch in (second, third, first):
        clock.shift(60)
        batch.post(batch.merchant, "submit")
    new_flow().declare()
    market_b = new_flow(**MARKET_B)
    market_b.submitted()

    # when reviewer-a opens the queue
    queue = numbers(flow.api("reviewer-a").get("/api/batches/?status=submitted"))

    # then it lists market A's submitted batches in the order they were submitted
    assert queue == [second.number, third.number, first.number]
    # and market B's reviewer sees only market B's
    assert numbers(flow.api("reviewer-b").get("/api/batches/?status=submitted")) == [market_b.number]


def test_the_reviewer_approves_into_a_warehouse_serving_the_market(flow):
    flow.submitted()

    approved = flow.post("reviewer-a", "approve", {"warehouse": "WH-1"})

    assert (approved["status"], approved["warehouse"]) == ("approved", "WH-1")
    # the warehouse crew now sees the batch coming; the other warehouse does not
    assert flow.detail("operator-1")["allowed_actions"] == ["arrive"]
    assert flow.api("operator-2").get(f"/api/batches/{flow.number}/").status_code == 404


def test_a_warehouse_that_does_not_serve_the_market_is_refused(flow):
    flow.submitted()

    response = flow.api("reviewer-a").post(f"/api/batches/{flow.number}/approve/", {"warehouse": "WH-2"}, format="json")

    assert response.status_code == 400
    assert "warehouse" in response.json()
    assert flow.detail()["status"] == "submitted"


def test_rejection_needs_a_reason_and_the_merchant_sees_it(flow):
    flow.submitted()
    assert flow.api("reviewer-a").post(f"/api/batches/{flow.number}/reject/", {}, format="json").status_code == 400

    rejected = flow.post("reviewer-a", "reject", {"reason": "报关单号与货物不符"})

    assert rejected["status"] == "rejected"
    mine = flow.detail("merchant-a1")
    assert mine["reject_reason"] == "报关单号与货物不符"
    assert mine["allowed_actions"] == ["revise"]


def test_a_rejected_batch_is_revised_corrected_and_queued_again(flow, new_flow, clock):
    # given a rejected batch and, meanwhile, another submitted batch of the market
    flow.submitted()
    flow.post("reviewer-a", "reject", {"reason": "规格填写不全"})
    clock.shift(60)
    waiting = new_flow(merchant="merchant-a2")
    waiting.submitted()

    # when the merchant revises, corrects and resubmits it
    clock.shift(60)
    assert flow.post("merchant-a1", "revise")["status"] == "draft"
    response = flow.api("merchant-a1").patch(
        f"/api/batches/{flow.number}/",
        {
            "lines": [
                {
                    "product_name": "羊毛大衣",
                    "category": "服装",
                    "specification": "女款 M 码 藏青 100% 羊毛",
                    "quantity": 3,
                    "unit": "件",
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 200
    assert flow.post("merchant-a1", "submit")["status"] == "submitted"

    # then it is back in the queue, behind the batch that waited meanwhile, and can be approved
    assert numbers(flow.api("reviewer-a").get("/api/batches/?status=submitted")) == [waiting.number, flow.number]
    assert flow.post("reviewer-a", "approve", {"warehouse": "WH-1"})["status"] == "approved"
    actions = list(Event.objects.filter(batch__number=flow.number).values_list("action", flat=True))
    assert actions == ["declare", "submit", "reject", "revise", "edit", "submit", "approve"]


# --- the list and its filters --------------------------------------------------------------


def test_the_list_filters_by_market_warehouse_status_and_search(flow, new_flow):
    # given batches of markets A (WH-1), B (WH-1) and C (WH-2) in different states
    a_draft = new_flow()
    a_draft.declare(customs_declaration_no="310120261129777777")
    a_approved = new_flow(merchant="merchant-a2")
    a_approved.approved()
    b_approved = new_flow(**MARKET_B)
    b_approved.approved()
    c_approved = new_flow(**MARKET_C)
    c_approved.declare(
        lines=[{"product_name": "韩版卫衣", "category": "服装", "specification": "均码", "quantity": 4, "unit": "件"}]
    )
    c_approved.post("merchant-c1", "submit")
    c_approved.post("reviewer-c", "approve", {"warehouse": "WH-2"})
    regulator = flow.api("regulator")

    # then the regulator, who sees the whole district, narrows the list with each filter
    assert set(numbers(regulator.get("/api/batches/"))) == {
        a_draft.number,
        a_approved.number,
        b_approved.number,
        c_approved.number,
    }
    assert numbers(regulator.get("/api/batches/?market=MKT-B")) == [b_approved.number]
    assert set(numbers(regulator.get("/api/batches/?warehouse=WH-1"))) == {a_approved.number, b_approved.number}
    assert numbers(regulator.get("/api/batches/?warehouse=WH-2")) == [c_approved.number]
    assert numbers(regulator.get("/api/batches/?status=draft")) == [a_draft.number]
    assert set(numbers(regulator.get("/api/batches/?market=MKT-A&status=approved"))) == {a_approved.number}
    assert numbers(regulator.get("/api/batches/?search=777777")) == [a_draft.number]  # customs number
    assert numbers(regulator.get("/api/batches/?search=韩版")) == [c_approved.number]  # product name
    assert numbers(regulator.get(f"/api/batches/?search={b_approved.number}")) == [b_approved.number]
    assert numbers(regulator.get("/api/batches/?search=意美")) == [a_approved.number]  # merchant's name

    # and the filters never widen anyone's scope
    assert numbers(flow.api("merchant-a1").get("/api/batches/?market=MKT-C")) == []
    assert numbers(flow.api("operator-2").get("/api/batches/?warehouse=WH-1")) == []
    assert set(numbers(flow.api("operator-1").get("/api/batches/"))) == {a_approved.number, b_approved.number}


def test_the_list_is_paginated(flow):
    flow.declare()

    body = flow.api("merchant-a1").get("/api/batches/").json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1 and body["results"][0]["number"] == flow.number
