"""Queries compiled once (config/compiled.py) read what their querysets would, and go where the
ORM would send them: reads where the router sends reads, row locks where writes go; compiled
updates and inserts write what `update()`, `save()` and `bulk_create()` would."""

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now
from django.db.models.signals import post_save
from django.db.utils import ConnectionDoesNotExist
from django.utils import timezone

from batches.codes import move_codes
from batches.models import Batch, Code, CodeStatus, Event
from config import compiled
from config.compiled import CompiledInsert, CompiledQuery, CompiledUpdate


def by_number():
    return CompiledQuery(Batch, lambda number: Batch.objects.filter(number=number), number="\x00number")


@pytest.fixture
def batch(flow):
    flow.declare()
    return Batch.objects.get(number=flow.number)


def test_a_compiled_look_up_gives_the_rows_of_its_queryset(batch):
    query = by_number()

    assert [found.pk for found in query(number=batch.number)] == [batch.pk]
    assert [found.pk for found in query(number=batch.number)] == [batch.pk]  # the SQL kept
    assert query(number="NO-SUCH-BATCH") == []


def test_reads_follow_the_router_and_row_locks_go_where_writes_go(batch, monkeypatch):
    # Reads routed to an alias that does not exist here (a replica), writes to the primary.
    monkeypatch.setattr(compiled.router, "db_for_read", lambda model, **hints: "replica")
    lock = CompiledQuery(Batch, lambda pk: Batch.objects.select_for_update().filter(pk=pk), pk=-901)

    with transaction.atomic():
        assert [locked.pk for locked in lock(pk=batch.pk)] == [batch.pk]
    with pytest.raises(ConnectionDoesNotExist):
        by_number()(number=batch.number)


# --- writes: CompiledUpdate and CompiledInsert ----------------------------------------------


def event_of(batch, action="note", **details):
    return Event(
        batch=batch,
        action=action,
        status_before=batch.status,
        status_after=batch.status,
        actor=User.objects.get(username="operator-1"),
        role="operator",
        at=timezone.now().replace(microsecond=123456),
        warehouse_id=batch.warehouse_id,
        zone="",
        details=details,
    )


def test_a_compiled_insert_stores_a_new_row_as_save_would(batch):
    events = CompiledInsert(Event)
    saved = []

    def heard(sender, instance, created, **kwargs):
        saved.append((instance.pk, created))

    post_save.connect(heard, sender=Event, dispatch_uid="test-compiled-insert")
    try:
        first = events.insert(event_of(batch, codes=["A", "B"], count=2))
        second = events.insert(event_of(batch, action="other"))  # the SQL kept
    finally:
        post_save.disconnect(sender=Event, dispatch_uid="test-compiled-insert")

    assert first.pk and second.pk > first.pk and not first._state.adding
    assert saved == [(first.pk, True), (second.pk, True)]  # post_save, as save() sends it
    stored = Event.objects.get(pk=first.pk)
    assert (stored.action, stored.details, stored.at, stored.actor.username) == (
        "note",
        {"codes": ["A", "B"], "count": 2},
        first.at,
        "operator-1",
    )


def test_a_compiled_insert_of_many_rows_sets_each_primary_key_in_order(batch):
    events = CompiledInsert(Event)

    for count in (3, 1, 5):  # one shape on PostgreSQL; one per row count elsewhere
        rows = events.insert_many(event_of(batch, action=f"n{i}") for i in range(count))
        assert [Event.objects.get(pk=row.pk).action for row in rows] == [f"n{i}" for i in range(count)]
    assert events.insert_many([]) == []


def test_a_compiled_insert_refuses_an_expression(batch):
    event = event_of(batch)
    event.at = Now()

    with pytest.raises(ValueError, match="expression"):
        CompiledInsert(Event).insert(event)
    assert not Event.objects.filter(action="note").exists()


def test_a_refused_compiled_insert_marks_its_transaction_for_rollback(flow, clock):
    flow.to("coded", clock)
    code = Code.objects.filter(batch__number=flow.number).first()
    before = Code.objects.count()
    copy = Code.objects.get(pk=code.pk)
    copy.pk = None  # the same token, serial and item number: the unique constraints refuse it

    with transaction.atomic():
        with pytest.raises(IntegrityError):
            CompiledInsert(Code).insert(copy)
        assert transaction.get_rollback()  # as after a refused save(): nothing more is written
    assert Code.objects.count() == before


def test_a_compiled_update_changes_the_rows_its_queryset_names(batch):
    rename = CompiledUpdate(
        Batch,
        lambda pk, status, origin: (Batch.objects.filter(pk=pk, status=status), {"origin_country": origin}),
        pk=-901,
        status="\x00status",
        origin="\x00origin",
    )

    assert rename(pk=batch.pk, status="no-such-status", origin="NZ") == 0
    assert rename(pk=batch.pk, status=batch.status, origin="NZ") == 1
    assert rename(pk=batch.pk, status=batch.status, origin="CL") == 1  # the SQL kept
    assert Batch.objects.get(pk=batch.pk).origin_country == "CL"


def test_a_compiled_update_across_a_join_is_refused(batch):
    by_market = CompiledUpdate(
        Batch, lambda code: (Batch.objects.filter(market__code=code), {"origin_country": "NZ"}), code="\x00code"
    )

    with pytest.raises(ValueError, match="join"):
        by_market(code="MKT-A")


def test_codes_moved_by_primary_key_move_only_from_their_status(flow, clock):
    flow.to("coded", clock)
    batch = Batch.objects.get(number=flow.number)
    ids = list(batch.codes.order_by("pk").values_list("pk", flat=True)[:3])

    with transaction.atomic():
        assert move_codes(ids, source=CodeStatus.IN_WAREHOUSE, target=CodeStatus.RELEASED) == 3
        assert move_codes(ids, source=CodeStatus.IN_WAREHOUSE, target=CodeStatus.RELEASED) == 0
    assert set(Code.objects.filter(pk__in=ids).values_list("status", flat=True)) == {CodeStatus.RELEASED}
    assert batch.codes.exclude(pk__in=ids).filter(status=CodeStatus.RELEASED).count() == 0


def test_without_rows_returned_from_a_bulk_insert_the_orm_inserts_them(batch, monkeypatch):
    # An SQLite before 3.35: CompiledInsert leaves the insert to the ORM, with the same result.
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    events = CompiledInsert(Event)

    one = events.insert(event_of(batch, action="one"))
    many = events.insert_many([event_of(batch, action="a"), event_of(batch, action="b")])

    assert Event.objects.get(pk=one.pk).action == "one" and not one._state.adding
    assert sorted(Event.objects.filter(action__in=["a", "b"]).values_list("action", flat=True)) == ["a", "b"]
    assert len(many) == 2  # their primary keys unknown, as after bulk_create() on such a database
