"""The lifecycle as one table (SPEC §3, STYLE "for this project" 1–2): the table says what
each action needs and leads to, the API refuses everything else with the 409 body of SPEC §4,
and each caller is offered exactly the actions the table allows their role."""

import itertools

import pytest

from batches.lifecycle import TRANSITIONS
from batches.models import Batch, Event
from tests.conftest import MARKET_C

DISINFECTION = {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}
END = {"returned", "destroyed", "recalled"}


# --- the table against SPEC §3 --------------------------------------------------------------

FROM_APPROVED_ON = {
    "approved",
    "discrepancy",
    "pre_storage",
    "resting",
    "rest_complete",
    "quarantined",
    "stored",
    "coded",
    "released",
}

# action: (statuses it starts from, status it leads to — None where the outcome decides, roles)
SPEC_DIAGRAM = {
    "edit": ({"draft"}, None, {"merchant"}),
    "submit": ({"draft"}, "submitted", {"merchant"}),
    "approve": ({"submitted"}, "approved", {"reviewer"}),
    "reject": ({"submitted"}, "rejected", {"reviewer"}),
    "revise": ({"rejected"}, "draft", {"merchant"}),
    "arrive": ({"approved", "discrepancy"}, None, {"operator"}),  # pre_storage or discrepancy (R5)
    "return": ({"discrepancy"}, "returned", {"operator", "regulator"}),
    "disinfect": ({"pre_storage"}, None, {"operator"}),  # a record, the status stays
    "move_to_resting": ({"pre_storage"}, "resting", {"operator"}),
    "sample": ({"resting", "rest_complete"}, None, {"operator"}),  # R2: until it leaves the resting zone
    "test_result": ({"resting", "rest_complete"}, None, {"operator"}),  # quarantined if positive
    "complete_rest": ({"resting"}, "rest_complete", {"system"}),  # the timer only (R1)
    "move_to_storage": ({"rest_complete"}, "stored", {"operator"}),
    "issue_codes": ({"stored"}, "coded", {"operator"}),
    "release": ({"coded"}, None, {"operator"}),  # released once every code has left
    "redisinfect": ({"quarantined"}, "pre_storage", {"regulator"}),
    "destroy": ({"quarantined"}, "destroyed", {"regulator"}),
    "recall": (FROM_APPROVED_ON, "recalled", {"regulator"}),
}
# Where an action's outcome decides the status, these are the statuses it may lead to.
OUTCOMES = {
    "edit": lambda before: {before},
    "arrive": lambda before: {"pre_storage", "discrepancy"},
    "disinfect": lambda before: {before},
    "sample": lambda before: {before},
    "test_result": lambda before: {before, "quarantined"},
    "release": lambda before: {"coded", "released"},
}


def test_the_transition_table_is_the_diagram_of_the_spec():
    table = {name: (set(t.sources), t.target, set(t.roles)) for name, t in TRANSITIONS.items()}
    assert table == SPEC_DIAGRAM


def test_end_states_have_no_way_out():
    for name, t in TRANSITIONS.items():
        assert not (END & t.sources), name


# --- batches in every status ---------------------------------------------------------------


def arrival_of(flow):
    return {
        "lines": [
            {"line": line["id"], "received_quantity": line["quantity"], "type_matches": True, "spec_matches": True}
            for line in flow.detail("regulator")["lines"]
        ]
    }


def positive(flow):
    flow.resting()
    flow.sample()
    flow.result("positive")


STATUSES = [
    "draft",
    "submitted",
    "rejected",
    "approved",
    "discrepancy",
    "returned",
    "pre_storage",
    "resting",
    "rest_complete",
    "quarantined",
    "destroyed",
    "stored",
    "coded",
    "released",
]

# Each POST action of the API, the table entry it takes, who (in scope, with the role) tries it, and a valid body.
ACTIONS = [
    ("submit", "submit", "merchant-a1", lambda f: {}),
    ("approve", "approve", "reviewer-a", lambda f: {"warehouse": "WH-1"}),
    ("reject", "reject", "reviewer-a", lambda f: {"reason": "x"}),
    ("revise", "revise", "merchant-a1", lambda f: {}),
    ("arrive", "arrive", "operator-1", arrival_of),
    ("return", "return", "regulator", lambda f: {"reason": "x"}),
    ("disinfect", "disinfect", "operator-1", lambda f: DISINFECTION),
    ("move-to-resting", "move_to_resting", "operator-1", lambda f: {}),
    ("samples", "sample", "operator-1", lambda f: {"sample_no": "S-NEW", "lab": "杭州市疾控中心"}),
    (
        "test-results",
        "test_result",
        "operator-1",
        lambda f: {"sample_no": "S1", "result": "negative", "report_no": "R"},
    ),
    ("move-to-storage", "move_to_storage", "operator-1", lambda f: {}),
    ("issue-codes", "issue_codes", "operator-1", lambda f: {}),
    ("release", "release", "operator-1", lambda f: {"all": True}),
    ("redisinfect", "redisinfect", "regulator", lambda f: {"reason": "x"}),
    ("destroy", "destroy", "regulator", lambda f: {"reason": "x"}),
]
BEFORE_WAREHOUSE = {"draft", "submitted", "rejected"}  # no warehouse assigned: its crew cannot see it yet


@pytest.mark.parametrize("status", STATUSES)
def test_every_action_not_allowed_in_a_status_answers_409_and_changes_nothing(flow, clock, status):
    # given a batch in this status
    flow.to(status, clock)
    events = Event.objects.filter(batch__number=flow.number).count()

    # when each action the table does not allow here is tried by someone whose role may take it
    tried = 0
    for path, action, who, body in ACTIONS:
        if status in TRANSITIONS[action].sources:
            continue
        response = flow.api(who).post(f"/api/batches/{flow.number}/{path}/", body(flow), format="json")
        if who == "operator-1" and status in BEFORE_WAREHOUSE:
            assert response.status_code == 404, (path, response.content)
            continue
        tried += 1

        # then 409 with exactly the SPEC's body: what, why, the status, and what the caller may do instead
        assert response.status_code == 409, (path, response.status_code, response.content)
        answer = response.json()
        if status == "resting" and action in ("move_to_storage", "issue_codes"):
            assert answer["code"] == "rest_not_complete"  # R2: the crew sees how long is left
            continue
        assert set(answer) == {"detail", "code", "status", "allowed"}, path
        assert (answer["code"], answer["status"]) == ("invalid_transition", status), path
        assert answer["allowed"] == flow.detail(who)["allowed_actions"], path
        assert answer["detail"]

    # and nothing about the batch changed
    assert tried > 0
    assert Batch.objects.get(number=flow.number).status == status
    assert Event.objects.filter(batch__number=flow.number).count() == events


def test_editing_outside_draft_answers_409_with_the_same_body(flow):
    flow.submitted()

    response = flow.api("merchant-a1").patch(f"/api/batches/{flow.number}/", {"origin_country": "FR"}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "detail": response.json()["detail"],
        "code": "invalid_transition",
        "status": "submitted",
        "allowed": [],
    }


# --- allowed_actions per role --------------------------------------------------------------

# status: {user: allowed_actions on the detail}; a user left out cannot see the batch (404)
OFFERED = {
    "draft": {"merchant-a1": ["edit", "submit"], "reviewer-a": [], "regulator": []},
    "submitted": {"merchant-a1": [], "reviewer-a": ["approve", "reject"], "regulator": []},
    "rejected": {"merchant-a1": ["revise"], "reviewer-a": [], "regulator": []},
    "approved": {"merchant-a1": [], "reviewer-a": [], "operator-1": ["arrive"], "regulator": ["recall"]},
    "discrepancy": {"merchant-a1": [], "operator-1": ["arrive", "return"], "regulator": ["return", "recall"]},
    "pre_storage": {"operator-1": ["disinfect", "move_to_resting"], "regulator": ["recall"]},
    "resting": {"merchant-a1": [], "operator-1": ["sample", "test_result"], "regulator": ["recall"]},
    "rest_complete": {"operator-1": ["sample", "test_result", "move_to_storage"], "regulator": ["recall"]},
    "quarantined": {"merchant-a1": [], "operator-1": [], "regulator": ["redisinfect", "destroy", "recall"]},
    "stored": {"operator-1": ["issue_codes"], "regulator": ["recall"]},
    "coded": {"merchant-a1": [], "reviewer-a": [], "operator-1": ["release"], "regulator": ["recall"]},
    "returned": {"merchant-a1": [], "operator-1": [], "regulator": []},
    "destroyed": {"operator-1": [], "regulator": []},
}


@pytest.mark.parametrize("status", list(OFFERED))
def test_each_caller_is_offered_what_their_role_may_do_now(flow, clock, status):
    flow.to(status, clock)

    for who, expected in OFFERED[status].items():
        assert flow.detail(who)["allowed_actions"] == expected, who
    if status in BEFORE_WAREHOUSE:
        assert flow.api("operator-1").get(f"/api/batches/{flow.number}/").status_code == 404


# --- every status change follows the table and is recorded ---------------------------------


def test_every_recorded_change_follows_the_table_and_the_record_is_unbroken(flow, new_flow, clock):
    # given batches walked along every path of the diagram
    flow.to("released", clock)
    new_flow().to("returned")
    destroyed_in_wh2(new_flow(**MARKET_C))
    rejected = new_flow(merchant="merchant-a2")
    rejected.submitted()
    rejected.post("reviewer-a", "reject", {"reason": "x"})
    rejected.post("merchant-a2", "revise")
    redisinfected = new_flow()
    positive(redisinfected)
    redisinfected.post("regulator", "redisinfect", {"reason": "x"})
    redisinfected.post("operator-1", "disinfect", DISINFECTION, expect=201)
    redisinfected.post("operator-1", "move-to-resting")

    # then each event is a move the table allows, and each batch's events chain from
    # "declared" to its current status without a gap
    for batch in Batch.objects.all():
        events = list(batch.events.order_by("id"))
        assert events[0].action == "declare" and events[0].status_after == "draft"
        for previous, event in itertools.pairwise(events):
            if event.action in RECORDS_WITHOUT_MOVE:
                # a record beside the lifecycle (a positive result's incident): no move at all
                assert event.status_before == event.status_after == previous.status_after, (batch.number, event.action)
                continue
            t = TRANSITIONS[event.action]
            assert event.status_before == previous.status_after, (batch.number, event.action)
            assert event.status_before in t.sources, (batch.number, event.action)
            if t.target:
                assert event.status_after == t.target, (batch.number, event.action)
            else:
                assert event.status_after in OUTCOMES[event.action](event.status_before), (batch.number, event.action)
            assert event.role in t.roles
        assert events[-1].status_after == batch.status, batch.number
    assert Batch.objects.count() == 5


# Events that record something without moving the batch (batches.incidents, batches.attachments).
RECORDS_WITHOUT_MOVE = {"incident_open", "attach", "seal", "lift_seal"}


def destroyed_in_wh2(other):
    other.approved()
    other.post("operator-2", "arrive", {"lines": other.arrival()})
    other.post("operator-2", "disinfect", DISINFECTION, expect=201)
    other.post("operator-2", "move-to-resting")
    other.post("operator-2", "samples", {"sample_no": "S1", "lab": "lab"}, expect=201)
    other.post("operator-2", "test-results", {"sample_no": "S1", "result": "positive", "report_no": "R"}, expect=201)
    other.post("regulator", "destroy", {"reason": "x"})
