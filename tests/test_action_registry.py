"""Each batch action is declared once (batches/actions.py, docs/architecture.md): the table
refuses what the declaration does not list, and the API routes, the page's buttons and forms,
the timeline and the EPCIS export all come from the declaration. A role is checked one way,
so a page and an endpoint refuse the same roles for the same action."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import resolve

from batches.actions import KEEP, REGISTRY, Action, Capability, RoleRefused, Style, declared, may, require
from batches.actors import actor_for
from batches.codes import CODE_MOVES, IllegalCodeMove, move_codes
from batches.lifecycle import Change, TargetNotListed, transition
from batches.models import Batch, Code, CodeStatus, Event, Status
from batches.web.batch_pages import FORM_OF_INPUT
from batches.web.presenters import action_label
from markets import epcis

PEOPLE = ("merchant-a1", "reviewer-a", "operator-1", "regulator")


# --- the table refuses what is not declared --------------------------------------------------


def test_transition_refuses_a_target_the_declaration_does_not_list(flow):
    # given a batch in pre-storage, where a disinfection is a record that keeps the status
    flow.pre_storage()
    batch = Batch.objects.get(number=flow.number)
    events = Event.objects.filter(batch=batch).count()
    actor = actor_of("operator-1")

    # when a service decides a status the action does not lead to
    with pytest.raises(TargetNotListed):
        transition(batch=batch, action=Action.DISINFECT, actor=actor, apply=lambda b: Change(status=Status.STORED))

    # then nothing is stored: the status and the events are as they were
    batch.refresh_from_db()
    assert batch.status == Status.PRE_STORAGE
    assert Event.objects.filter(batch=batch).count() == events


def test_a_branching_action_lists_each_status_it_may_lead_to():
    assert REGISTRY[Action.ARRIVE].targets == {Status.PRE_STORAGE, Status.DISCREPANCY}
    assert REGISTRY[Action.TEST_RESULT].targets == {KEEP, Status.QUARANTINED}
    assert REGISTRY[Action.RELEASE].targets == {KEEP, Status.RELEASED}
    # and a branching action has no single target
    assert REGISTRY[Action.ARRIVE].target is None
    assert REGISTRY[Action.MOVE_TO_RESTING].target == Status.RESTING


def test_the_code_status_table_refuses_a_move_it_does_not_list(flow, clock):
    # given a coded batch: its codes are in the warehouse
    flow.coded(clock)
    codes = Code.objects.filter(batch__number=flow.number)
    assert set(codes.values_list("status", flat=True)) == {CodeStatus.IN_WAREHOUSE}

    # when a move the table does not list is asked for (in the warehouse → sold; sold → in the warehouse)
    for source, target in ((CodeStatus.IN_WAREHOUSE, CodeStatus.SOLD), (CodeStatus.SOLD, CodeStatus.IN_WAREHOUSE)):
        assert (source, target) not in CODE_MOVES
        with pytest.raises(IllegalCodeMove):
            move_codes(codes, source=source, target=target)

    # then no code moved; a listed move does
    assert set(codes.values_list("status", flat=True)) == {CodeStatus.IN_WAREHOUSE}
    assert move_codes(codes, source=CodeStatus.IN_WAREHOUSE, target=CodeStatus.RELEASED) == codes.count()


# --- the registry drives the outside ---------------------------------------------------------


def test_every_action_a_person_takes_is_declared_with_what_the_outside_needs():
    assert {spec.name for spec in declared()} == set(Action)
    for spec in declared():
        assert spec.label, spec.name
        assert len(spec.epcis) == 3, spec.name
        if spec.name == Action.COMPLETE_REST:
            assert spec.service is None and spec.style == Style.NONE
            continue
        assert spec.service is not None and spec.button, spec.name
        assert spec.slug or spec.name == Action.EDIT, spec.name  # edit is the detail's PATCH
        if spec.style != Style.NONE:
            assert spec.done and "%(number)s" in str(spec.done), spec.name


def test_every_declared_route_is_served_by_a_view_of_its_declaration():
    for spec in declared():
        if not spec.slug:
            continue
        match = resolve(f"/api/batches/MKT-A-20261129-0001/{spec.slug}/")
        assert match.url_name == f"batch-{spec.slug}"
        assert match.func.view_class.spec is spec, spec.name


def test_the_timeline_and_the_epcis_export_read_the_declaration():
    for spec in declared():
        assert action_label(spec.name) == spec.label
        assert epcis.STEPS[spec.name] == spec.epcis
    # events that are not batch actions keep their own words and steps
    assert {"declare", "sale", "sale_void"} <= set(epcis.STEPS)


def test_the_page_has_a_form_for_every_action_offered_as_a_form():
    for spec in declared():
        if spec.style == Style.FORM and spec.name not in (Action.ARRIVE, Action.RELEASE):
            assert spec.input in FORM_OF_INPUT, spec.name


def test_the_page_offers_the_declared_buttons(flow, web):
    # given a draft, the merchant's page offers submit as a button: its declared words and URL
    flow.declare()
    page = web("merchant-a1").get(f"/batches/{flow.number}/").content.decode()
    assert str(REGISTRY[Action.SUBMIT].button) in page
    assert f"/batches/{flow.number}/do/submit/" in page


# --- one role check ---------------------------------------------------------------------------


def test_a_page_and_an_endpoint_refuse_the_same_roles_for_the_same_action(flow, api, web):
    # given an approved batch that every role can see
    flow.approved()
    before = (flow.detail("regulator")["status"], Event.objects.count())

    # when each person tries each action, with no input, on the API and on the page
    for spec in declared():
        if not spec.slug:
            continue
        for username in PEOPLE:
            by_api = api(username).post(f"/api/batches/{flow.number}/{spec.slug}/", {}, format="json")
            by_page = web(username).post(f"/batches/{flow.number}/do/{spec.name.replace('_', '-')}/", {})
            refused = not may(actor_of(username), spec.name)
            # then both refuse (403) exactly the roles the declaration does not list
            assert (by_api.status_code == 403) == refused, (spec.name, username, by_api.status_code)
            assert (by_page.status_code == 403) == refused, (spec.name, username, by_page.status_code)

    # and nothing changed (no input, or not allowed in this state)
    assert (flow.detail("regulator")["status"], Event.objects.count()) == before


def test_a_capability_is_checked_the_same_way_for_every_role(world):
    for username in PEOPLE:
        actor = actor_of(username)
        for capability in Capability:
            if may(actor, capability):
                require(actor, capability)
            else:
                with pytest.raises(RoleRefused):
                    require(actor, capability)
    assert not may(None, Capability.TRACE) and not may(None, Action.SUBMIT)


def actor_of(username):
    return actor_for(get_user_model().objects.get(username=username))
