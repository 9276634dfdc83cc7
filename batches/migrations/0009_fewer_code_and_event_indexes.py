"""Drops the indexes that other indexes already cover, so that a change of a code's status and a
new event update fewer of them: the codes' and events' single-column batch indexes (the
composite indexes code_unique_item_no, code_batch_status and event_batch_id begin with the
batch) and, on PostgreSQL, the varchar_pattern_ops indexes that unique=True adds for LIKE on the
token and the serial, which no look-up uses. The token's and the serial's unique constraints stay
as they are and are only renamed: no table is rewritten, no foreign key re-checked and no unique
index rebuilt, so the migration takes a moment on a table of millions of codes. Its brief
locks wait at most LOCK_TIMEOUT for a long read (an export) to finish: the migration then fails
and is run again, rather than holding every request behind it."""

from django.db import migrations, models
import django.db.models.deletion

# On PostgreSQL: the LIKE indexes of `unique=True` (Django's names for them).
LIKE_INDEXES = {
    "token": "batches_code_token_e49cd6f8_like",
    "serial": "batches_code_serial_c7dcfbd9_like",
}
RENAMED = {"token": "code_unique_token", "serial": "code_unique_serial"}
LOCK_TIMEOUT = "10s"
# Their names before (PostgreSQL's for the token's, created with the table; Django's for the serial's).
FORMER = {"token": "batches_code_token_key", "serial": "batches_code_serial_c7dcfbd9_uniq"}


def _unique_constraint_of(cursor, column):
    """The name of the single-column unique constraint on batches_code(column), or None."""
    cursor.execute(
        "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a"
        " ON a.attrelid = c.conrelid AND c.conkey = ARRAY[a.attnum]"
        " WHERE c.conrelid = 'batches_code'::regclass AND c.contype = 'u' AND a.attname = %s",
        [column],
    )
    row = cursor.fetchone()
    return row[0] if row else None


def unique_fields_to_constraints(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite: the unique indexes are the table's own; its next rebuild names them
    schema_editor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")  # for this migration's transaction
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        for column, name in RENAMED.items():
            old = _unique_constraint_of(cursor, column)
            if old is None:
                raise RuntimeError(f"batches_code has no unique constraint on {column} to rename to {name}")
            if old != name:
                schema_editor.execute(f"ALTER TABLE batches_code RENAME CONSTRAINT {quote(old)} TO {quote(name)}")
            schema_editor.execute(f"DROP INDEX IF EXISTS {quote(LIKE_INDEXES[column])}")


def constraints_to_unique_fields(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for column, name in RENAMED.items():
        schema_editor.execute(f"ALTER TABLE batches_code RENAME CONSTRAINT {quote(name)} TO {quote(FORMER[column])}")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(LIKE_INDEXES[column])}"
            f" ON batches_code ({quote(column)} varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0008_attachment_role_english_labels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="code",
                    name="batch",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="codes",
                        to="batches.batch",
                    ),
                ),
                migrations.AlterField(
                    model_name="event",
                    name="batch",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="batches.batch",
                    ),
                ),
                migrations.AlterField(model_name="code", name="serial", field=models.CharField(max_length=20)),
                migrations.AlterField(model_name="code", name="token", field=models.CharField(max_length=32)),
                migrations.AddConstraint(
                    model_name="code",
                    constraint=models.UniqueConstraint(fields=("token",), name="code_unique_token"),
                ),
                migrations.AddConstraint(
                    model_name="code",
                    constraint=models.UniqueConstraint(fields=("serial",), name="code_unique_serial"),
                ),
            ],
            database_operations=[
                migrations.RunPython(unique_fields_to_constraints, constraints_to_unique_fields),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "batches_code_batch_id_c539ba33"',
                    'CREATE INDEX IF NOT EXISTS "batches_code_batch_id_c539ba33" ON "batches_code" ("batch_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "batches_event_batch_id_cec4fb53"',
                    'CREATE INDEX IF NOT EXISTS "batches_event_batch_id_cec4fb53" ON "batches_event" ("batch_id")',
                ),
            ],
        ),
    ]
