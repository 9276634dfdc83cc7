"""Arrival check in the pre-storage zone (SPEC §1.2, R5): every declared line is checked for
type, specification and quantity; any mismatch holds the batch in `discrepancy` until a
re-verification matches or the goods are returned. Codes follow the received quantity."""

import pytest

from batches.models import Batch, BatchLine, Code, Event, Status
from batches.tasks import sweep_due_rests
from tests.conftest import row_counts
from tests.test_web_support import formset_data

DISINFECTION = {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}


def arrive(flow, lines, username="operator-1"):
    return flow.api(username).post(f"/api/batches/{flow.number}/arrive/", {"lines": lines}, format="json")


def test_when_every_line_matches_the_goods_enter_pre_storage(flow):
    flow.approved()

    checked = flow.post("operator-1", "arrive", {"lines": flow.arrival()})

    assert checked["status"] == "pre_storage"
    assert [(line["received_quantity"], line["type_matches"], line["spec_matches"]) for line in checked["lines"]] == [
        (3, True, True),
        (2, True, True),
    ]
    assert checked["allowed_actions"] == ["disinfect", "move_to_resting"]
    event = Event.objects.filter(batch__number=flow.number, action="arrive").get()
    assert (event.status_before, event.status_after, event.zone) == ("approved", "pre_storage", "pre_storage")
    assert event.details["mismatches"] == []


@pytest.mark.parametrize(
    "mismatch",
    [
        {"received_quantity": 2},  # one coat short
        {"received_quantity": 4},  # one coat too many
        {"type_matches": False},  # not what was declared
        {"spec_matches": False},  # wrong size or material
    ],
)
def test_any_mismatch_holds_the_batch_in_discrepancy(flow, mismatch):
    # given an approved batch whose first line does not match on arrival
    flow.approved()
    lines = flow.arrival()
    lines[0].update(mismatch)

    # when the operator records the check
    checked = flow.post("operator-1", "arrive", {"lines": lines})

    # then the batch is in discrepancy, the mismatch is on record, and nothing proceeds
    assert checked["status"] == "discrepancy"
    assert checked["allowed_actions"] == ["arrive", "return"]
    event = Event.objects.filter(batch__number=flow.number, action="arrive").get()
    assert [m["line"] for m in event.details["mismatches"]] == [lines[0]["line"]]
    for action, body in [
        ("disinfect", DISINFECTION),
        ("move-to-resting", {}),
        ("move-to-storage", {}),
        ("issue-codes", {}),
    ]:
        refused = flow.api("operator-1").post(f"/api/batches/{flow.number}/{action}/", body, format="json")
        assert refused.status_code == 409, action
        assert refused.json()["code"] == "invalid_transition"
        assert refused.json()["allowed"] == ["arrive", "return"]
    assert flow.detail()["disinfections"] == []


def test_a_re_verification_that_matches_lets_the_goods_proceed(flow):
    # given a batch held in discrepancy: one coat was missing
    flow.approved()
    flow.post("operator-1", "arrive", {"lines": flow.arrival(short_by=1)})

    # when the missing coat is brought and the re-check matches
    rechecked = flow.post("operator-1", "arrive", {"lines": flow.arrival()})

    # then the goods enter pre-storage and may be disinfected
    assert rechecked["status"] == "pre_storage"
    assert rechecked["lines"][0]["received_quantity"] == 3
    flow.post("operator-1", "disinfect", DISINFECTION, expect=201)
    events = Event.objects.filter(batch__number=flow.number, action="arrive").order_by("id")
    assert [(e.status_before, e.status_after) for e in events] == [
        ("approved", "discrepancy"),
        ("discrepancy", "pre_storage"),
    ]


def test_a_re_verification_that_still_differs_keeps_the_discrepancy(flow):
    flow.approved()
    flow.post("operator-1", "arrive", {"lines": flow.arrival(short_by=1)})

    again = flow.post("operator-1", "arrive", {"lines": flow.arrival(short_by=2)})

    assert again["status"] == "discrepancy"
    assert again["lines"][0]["received_quantity"] == 1


@pytest.mark.parametrize("who", ["operator-1", "regulator"])
def test_goods_in_discrepancy_can_be_returned_which_ends_the_batch(flow, who):
    flow.approved()
    flow.post("operator-1", "arrive", {"lines": flow.arrival(short_by=1)})

    returned = flow.post(who, "return", {"reason": "货单不符，退回发货人"})

    assert returned["status"] == "returned"
    for username in ("merchant-a1", "reviewer-a", "operator-1", "regulator"):
        assert flow.detail(username)["allowed_actions"] == [], username
    refused = arrive(flow, flow.arrival())
    assert refused.status_code == 409 and refused.json()["status"] == "returned"
    assert Event.objects.filter(batch__number=flow.number, action="return").get().actor.username == who


def test_goods_that_match_cannot_be_returned(flow):
    flow.pre_storage()

    response = flow.api("regulator").post(f"/api/batches/{flow.number}/return/", {}, format="json")

    assert response.status_code == 409
    assert flow.detail()["status"] == "pre_storage"


@pytest.mark.parametrize("case", ["missing line", "duplicate line", "unknown line", "line of another batch"])
def test_the_check_must_name_every_declared_line_exactly_once(flow, new_flow, case):
    # given an approved batch of two lines (and another batch with lines of its own)
    other = new_flow(merchant="merchant-a2")
    other.declare()
    foreign_line = BatchLine.objects.filter(batch__number=other.number).first().pk
    flow.approved()
    lines = flow.arrival()
    if case == "missing line":
        lines = lines[:1]
    elif case == "duplicate line":
        lines = [lines[0], lines[0], lines[1]]
    elif case == "unknown line":
        lines.append({**lines[0], "line": 987654321})
    else:
        lines[1]["line"] = foreign_line
    before = row_counts()

    # when the operator sends that check
    response = arrive(flow, lines)

    # then it is refused as bad input and nothing is stored
    assert response.status_code == 400, response.content
    assert "lines" in response.json()
    assert row_counts() == before
    detail = flow.detail("operator-1")
    assert detail["status"] == "approved"
    assert [line["received_quantity"] for line in detail["lines"]] == [None, None]


def test_a_bad_arrival_body_is_refused_before_the_state_is_judged(flow):
    """SPEC §4 order: 400 (bad input) comes before 409 (not allowed now)."""
    flow.pre_storage()

    response = arrive(flow, flow.arrival()[:1])

    assert response.status_code == 400
    assert "lines" in response.json()


def test_codes_are_issued_one_per_received_item(flow, clock):
    # given a batch whose first check found one coat missing, and whose re-check,
    # once the coat was brought, found 3 coats and 2 scarves as declared
    flow.approved()
    flow.post("operator-1", "arrive", {"lines": flow.arrival(short_by=1)})
    flow.post("operator-1", "arrive", {"lines": flow.arrival()})

    # when it is disinfected, rests with a negative test, is stored and coded
    flow.post("operator-1", "disinfect", DISINFECTION, expect=201)
    flow.post("operator-1", "move-to-resting")
    flow.sample()
    flow.result("negative")
    clock.shift(7 * 24 * 3600)
    sweep_due_rests()
    flow.post("operator-1", "move-to-storage")
    coded = flow.post("operator-1", "issue-codes")

    # then there is one code per item received at the last check, per line
    lines = {line["id"]: line["received_quantity"] for line in coded["lines"]}
    assert coded["codes"]["total"] == sum(lines.values()) == 5
    per_line = {line_id: Code.objects.filter(line_id=line_id).count() for line_id in lines}
    assert per_line == lines
    item_numbers = sorted(Code.objects.filter(batch__number=flow.number).values_list("item_no", flat=True))
    assert item_numbers == [1, 2, 3, 4, 5]
    issued = Event.objects.filter(batch__number=flow.number, action="issue_codes").get()
    assert issued.details["issued"] == 5


# --- R7: the arrival check names the status the scanner saw -----------------------------------


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
