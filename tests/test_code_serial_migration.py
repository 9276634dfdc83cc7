"""Codes issued before Digital Link serials became random get random serials on migration;
their old sequential number stays as the item's number within the batch, their token is kept."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from batches.codes import SERIAL_RE

BEFORE = [("batches", "0002_events_immutable")]
AFTER = [("batches", "0003_code_item_no_random_serial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_codes_get_random_serials_and_keep_their_number_and_token(flow, clock):
    flow.coded(clock)
    try:
        old_apps = migrate(BEFORE)
        OldCode = old_apps.get_model("batches", "Code")
        before = dict(OldCode.objects.values_list("token", "serial"))
        assert sorted(before.values()) == [1, 2, 3, 4, 5]  # the sequential serials of old

        new_apps = migrate(AFTER)
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    Code = new_apps.get_model("batches", "Code")
    rows = Code.objects.values_list("token", "item_no", "serial")
    after = {token: (item_no, serial) for token, item_no, serial in rows}
    assert {token: item_no for token, (item_no, _serial) in after.items()} == before
    serials = [serial for _item_no, serial in after.values()]
    assert len(set(serials)) == 5 and all(SERIAL_RE.match(serial) for serial in serials)
    # and the migrated codes resolve by their new Digital Link
    coat = next(code for code in flow.codes() if code["item_no"] == 1)
    assert coat["url"].endswith(f"/21/{after[coat['token']][1]}")
