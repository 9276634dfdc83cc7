"""R6 at the database: on PostgreSQL a trigger refuses UPDATE and DELETE of events, whatever
the interface (ORM, admin, raw SQL, psql)."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION batches_event_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'batches_event rows are immutable (R6)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER batches_event_no_update_delete
    BEFORE UPDATE OR DELETE ON batches_event
    FOR EACH ROW EXECUTE FUNCTION batches_event_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS batches_event_no_update_delete ON batches_event;
DROP FUNCTION IF EXISTS batches_event_immutable();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("batches", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
