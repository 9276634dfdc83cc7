"""The hot tables keep no index that another one already covers (docs/performance.md, "The hot paths under
load"): every change of a code's status, every event and every sale would have to update it.
Migrating back over the migrations that dropped them, and forward again, keeps the codes
unique by token and by serial, under the constraint names the models give them."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from batches.models import Code, Event
from markets.models import Sale

BEFORE = [("batches", "0008_attachment_role_english_labels"), ("markets", "0006_merge_english_labels_city_level")]


def covered_indexes(model):
    """The plain indexes of the model's table whose columns begin another index or unique constraint."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    keys = {name: c["columns"] for name, c in constraints.items() if (c["index"] or c["unique"]) and c["columns"]}
    return sorted(
        (name, other)
        for name, c in constraints.items()
        if c["index"] and not c["unique"] and not c["primary_key"]
        for other, columns in keys.items()
        if other != name and columns[: len(c["columns"])] == c["columns"]
    )


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Code, Event, Sale], ids=lambda model: model.__name__)
def test_the_hot_tables_keep_no_index_that_another_covers(model):
    assert covered_indexes(model) == []


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def code_constraints():
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, "batches_code")


# On PostgreSQL the migration renames the unique constraints in place and drops the LIKE indexes
# (and its reverse brings them back, as the former migrations named them, which is what their own
# reverse drops); SQLite keeps its unique indexes as they are until the table is next rebuilt.
RENAMED = {"code_unique_token", "code_unique_serial"}
FORMER = {"batches_code_token_key", "batches_code_serial_c7dcfbd9_uniq"}
LIKE = {"batches_code_token_e49cd6f8_like", "batches_code_serial_c7dcfbd9_like"}


@pytest.mark.django_db(transaction=True)
def test_migrating_back_and_forth_keeps_tokens_and_serials_unique(flow, clock):
    flow.coded(clock)
    postgresql = connection.vendor == "postgresql"
    try:
        migrate(BEFORE)
        before = code_constraints()  # the former schema had the single-column indexes
        assert any(c["columns"] == ["batch_id"] and c["index"] for c in before.values())
        if postgresql:
            assert set(before) >= FORMER | LIKE and not RENAMED & set(before)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    after = code_constraints()
    assert covered_indexes(Code) == []
    if postgresql:  # named as the models name them, so a later migration finds them
        assert all(after[name]["unique"] for name in RENAMED) and not (FORMER | LIKE) & set(after)
    code, other = Code.objects.order_by("pk")[:2]
    for field in ("token", "serial"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Code.objects.filter(pk=other.pk).update(**{field: getattr(code, field)})
