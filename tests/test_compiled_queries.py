"""Queries compiled once (config/compiled.py) read what their querysets would, and go where the
ORM would send them: reads where the router sends reads, row locks where writes go."""

import pytest
from django.db import transaction
from django.db.utils import ConnectionDoesNotExist

from batches.models import Batch
from config import compiled
from config.compiled import CompiledQuery


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
