"""An immutable record (R6): every state change, scan and record writes one event — actor,
role, time, warehouse and zone, action, status before and after, details — in the same
transaction as the change; no interface can update or delete an event."""

from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone
from rest_framework.pagination import PageNumberPagination

from batches.models import Batch, Event
from batches.tasks import sweep_due_rests

DISINFECTION = {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}


def test_each_step_writes_exactly_one_event_with_who_when_where_and_what(flow, clock):
    steps = [
        # (who, what, body, expected status, action, before, after, warehouse, zone, a detail that must be recorded)
        ("merchant-a1", "declare", None, 201, "declare", "", "draft", None, "", ("lines", 2)),
        ("merchant-a1", "submit", {}, 200, "submit", "draft", "submitted", None, "", None),
        (
            "reviewer-a",
            "approve",
            {"warehouse": "WH-1"},
            200,
            "approve",
            "submitted",
            "approved",
            "WH-1",
            "",
            ("warehouse", "WH-1"),
        ),
        (
            "operator-1",
            "arrive",
            "arrival",
            200,
            "arrive",
            "approved",
            "pre_storage",
            "WH-1",
            "pre_storage",
            ("mismatches", []),
        ),
        (
            "operator-1",
            "disinfect",
            DISINFECTION,
            201,
            "disinfect",
            "pre_storage",
            "pre_storage",
            "WH-1",
            "pre_storage",
            ("agent", "含氯消毒剂"),
        ),
        (
            "operator-1",
            "move-to-resting",
            {},
            200,
            "move_to_resting",
            "pre_storage",
            "resting",
            "WH-1",
            "resting",
            ("cycle", 1),
        ),
        (
            "operator-1",
            "samples",
            {"sample_no": "S1", "lab": "杭州市疾控中心"},
            201,
            "sample",
            "resting",
            "resting",
            "WH-1",
            "resting",
            ("sample_no", "S1"),
        ),
        (
            "operator-1",
            "test-results",
            {"sample_no": "S1", "result": "negative", "report_no": "HZ-1"},
            201,
            "test_result",
            "resting",
            "resting",
            "WH-1",
            "resting",
            ("result", "negative"),
        ),
        ("timer", "sweep", None, None, "complete_rest", "resting", "rest_complete", "WH-1", "resting", ("by", "sweep")),
        (
            "operator-1",
            "move-to-storage",
            {},
            200,
            "move_to_storage",
            "rest_complete",
            "stored",
            "WH-1",
            "storage",
            None,
        ),
        ("operator-1", "issue-codes", {}, 200, "issue_codes", "stored", "coded", "WH-1", "storage", ("issued", 5)),
        ("operator-1", "release", {"all": True}, 200, "release", "coded", "released", "WH-1", "storage", ("count", 5)),
    ]
    for who, what, body, status, action, before, after, warehouse, zone, detail in steps:
        clock.shift(3600 if what != "sweep" else 7 * 24 * 3600)
        count = Event.objects.count()
        if what == "declare":
            assert flow.declare()
        elif what == "sweep":
            assert sweep_due_rests() == 1
        else:
            flow.post(who, what, {"lines": flow.arrival()} if body == "arrival" else body, expect=status)

        new = list(Event.objects.filter(id__gt=0).order_by("id"))[count:]
        assert len(new) == 1, what
        event = new[0]
        assert event.batch.number == flow.number
        assert (event.action, event.status_before, event.status_after) == (action, before, after), what
        assert (event.actor.username if event.actor else "timer") == who, what
        assert event.role == ("system" if who == "timer" else who.split("-")[0]), what
        assert event.at == timezone.now(), what  # the clock stands still until the test moves it
        assert (event.warehouse.code if event.warehouse else None, event.zone) == (warehouse, zone), what
        if detail:
            assert event.details[detail[0]] == detail[1], what


def test_a_refused_action_writes_no_event(flow):
    flow.submitted()
    count = Event.objects.count()

    flow.post("merchant-a1", "submit", expect=409)
    flow.post("reviewer-a", "approve", {"warehouse": "WH-2"}, expect=400)
    flow.post("operator-1", "arrive", {"lines": []}, expect=404)

    assert Event.objects.count() == count


def test_the_timeline_is_served_oldest_first_with_the_fields_clients_use(flow):
    flow.pre_storage()

    body = flow.api("merchant-a1").get(f"/api/batches/{flow.number}/events/").json()

    assert body["count"] == 4
    assert [e["action"] for e in body["results"]] == ["declare", "submit", "approve", "arrive"]
    arrive = body["results"][-1]
    assert set(arrive) == {
        "id",
        "action",
        "status_before",
        "status_after",
        "actor",
        "actor_name",  # the person by name beside the login id (an addition)
        "role",
        "at",
        "warehouse",
        "zone",
        "details",
    }
    assert (arrive["actor"], arrive["actor_name"], arrive["role"], arrive["warehouse"], arrive["zone"]) == (
        "operator-1",
        "王建国",
        "operator",
        "WH-1",
        "pre_storage",
    )
    assert arrive["at"].endswith("+08:00")  # shown in Asia/Shanghai (R8)
    ids = [e["id"] for e in body["results"]]
    assert ids == sorted(ids)


def test_the_timeline_is_paginated(flow, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 3)
    flow.resting()  # declare, submit, approve, arrive, disinfect, move_to_resting
    for n in range(2):
        flow.sample(f"S{n}")

    first = flow.api("regulator").get(f"/api/batches/{flow.number}/events/").json()
    second = flow.api("regulator").get(first["next"]).json()
    third = flow.api("regulator").get(second["next"]).json()

    assert first["count"] == 8 and first["previous"] is None
    assert third["next"] is None
    actions = [e["action"] for page in (first, second, third) for e in page["results"]]
    assert actions == ["declare", "submit", "approve", "arrive", "disinfect", "move_to_resting", "sample", "sample"]


def test_event_times_are_stored_in_utc(flow):
    flow.declare()

    event = Event.objects.get(batch__number=flow.number)
    api_at = flow.api("merchant-a1").get(f"/api/batches/{flow.number}/events/").json()["results"][0]["at"]

    assert event.at.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(api_at) == event.at


# --- immutability --------------------------------------------------------------------------


@pytest.fixture
def recorded(flow):
    flow.approved()
    return Event.objects.filter(batch__number=flow.number).order_by("id").last()


def unchanged(event):
    fresh = Event.objects.get(pk=event.pk)
    return (fresh.action, fresh.status_after, fresh.details) == ("approve", "approved", {"warehouse": "WH-1"})


def test_an_event_cannot_be_saved_again(recorded):
    recorded.action = "reject"
    with pytest.raises(ValidationError):
        recorded.save()
    recorded.action = "approve"
    assert unchanged(recorded)


def test_an_event_cannot_be_deleted(recorded):
    with pytest.raises(ValidationError):
        recorded.delete()
    assert unchanged(recorded)


@pytest.mark.parametrize(
    "operation",
    [
        lambda qs: qs.update(action="reject"),
        lambda qs: qs.delete(),
        lambda qs: Event.objects.bulk_update([_with(qs.get(), action="reject")], ["action"]),
        lambda qs: qs.get().batch.events.all().delete(),
        lambda qs: qs.get().batch.events.update(details={}),
    ],
)
def test_events_cannot_be_changed_in_bulk(recorded, operation):
    with pytest.raises(ValidationError), transaction.atomic():
        operation(Event.objects.filter(pk=recorded.pk))
    assert unchanged(recorded)


def _with(event, **fields):
    for name, value in fields.items():
        setattr(event, name, value)
    return event


def test_a_batch_with_a_record_cannot_be_deleted(recorded):
    with pytest.raises(ProtectedError):
        Batch.objects.filter(pk=recorded.batch_id).delete()
    assert unchanged(recorded)


def test_the_admin_shows_events_read_only(recorded, admin_client):
    page = f"/admin/batches/event/{recorded.pk}/change/"

    assert admin_client.get(page).status_code == 200  # may be looked at
    assert admin_client.post(page, {"action": "reject"}).status_code == 403
    assert admin_client.post(f"/admin/batches/event/{recorded.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get("/admin/batches/event/add/").status_code == 403
    assert admin_client.get("/admin/batches/event/").context["action_form"] is None
    assert unchanged(recorded)


def test_not_even_raw_sql_changes_an_event(recorded):
    """On PostgreSQL a trigger (migration batches 0002) refuses UPDATE and DELETE from any
    client. SQLite has no such trigger; there the ORM guard is what holds."""
    if connection.vendor == "postgresql":
        for sql in (
            "UPDATE batches_event SET action = 'reject' WHERE id = %s",
            "DELETE FROM batches_event WHERE id = %s",
        ):
            with pytest.raises(DatabaseError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [recorded.pk])
    else:
        with pytest.raises(ValidationError):
            Event.objects.filter(pk=recorded.pk).update(action="reject")
        with pytest.raises(ValidationError):
            Event.objects.filter(pk=recorded.pk).delete()
    assert unchanged(recorded)


# --- R8: times in event details are Asia/Shanghai time ----------------------------------------


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
