"""R6 for evidence at the database: on PostgreSQL a trigger refuses UPDATE and DELETE of
attachments, like events (0002), whatever the interface."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION batches_attachment_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'batches_attachment rows are evidence and immutable (R6)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER batches_attachment_no_update_delete
    BEFORE UPDATE OR DELETE ON batches_attachment
    FOR EACH ROW EXECUTE FUNCTION batches_attachment_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS batches_attachment_no_update_delete ON batches_attachment;
DROP FUNCTION IF EXISTS batches_attachment_immutable();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("batches", "0004_attachments")]
    operations = [migrations.RunPython(forward, backward)]
