"""Queries compiled once (config/compiled.py) read what their querysets would, and go where the
ORM would send them: reads where the router sends reads, row locks where writes go; compiled
updates write what `update()` would. (Inserts are the ORM's own `save()` and `bulk_create()`.)"""

import pytest
from django.db import transaction
from django.db.utils import ConnectionDoesNotExist

from batches.codes import move_codes
from batches.models import Batch, Code, CodeStatus
from config import compiled
from config.compiled import CompiledQuery, CompiledUpdate


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


# --- writes: CompiledUpdate ----------------------------------------------------------------


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
