"""The declaration's papers (BatchDocument): kept like evidence photos, so on PostgreSQL a
trigger refuses UPDATE and DELETE of their rows whatever the interface (as 0005 for photos); and
the free text of a declaration's country, kept beside its code (origin_country_declared)."""


import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models

FORWARD = """
CREATE OR REPLACE FUNCTION batches_document_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'batches_batchdocument rows are kept and immutable; upload a replacement';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER batches_batchdocument_no_update_delete
    BEFORE UPDATE OR DELETE ON batches_batchdocument
    FOR EACH ROW EXECUTE FUNCTION batches_document_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS batches_batchdocument_no_update_delete ON batches_batchdocument;
DROP FUNCTION IF EXISTS batches_document_immutable();
"""


def immutable(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def mutable(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)



class Migration(migrations.Migration):

    dependencies = [
        ('batches', '0010_notification_params'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='batch',
            name='origin_country_declared',
            field=models.CharField(blank=True, max_length=100, verbose_name='Country of origin as declared'),
        ),
        migrations.CreateModel(
            name='BatchDocument',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('customs_declaration', 'Customs declaration'), ('inspection_certificate', 'Inspection and quarantine certificate'), ('other', 'Other document')], max_length=30, verbose_name='Kind')),
                ('note', models.CharField(blank=True, max_length=200, verbose_name='Note')),
                ('file', models.CharField(max_length=300)),
                ('thumbnail', models.CharField(blank=True, max_length=300)),
                ('content_type', models.CharField(max_length=40)),
                ('size', models.PositiveIntegerField()),
                ('sha256', models.CharField(max_length=64)),
                ('original_name', models.CharField(blank=True, max_length=200)),
                ('role', models.CharField(choices=[('merchant', 'Merchant'), ('reviewer', 'Market reviewer'), ('operator', 'Warehouse operator'), ('regulator', 'Regulator'), ('system', 'System')], max_length=20)),
                ('uploaded_at', models.DateTimeField()),
                ('batch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='documents', to='batches.batch')),
                ('supersedes', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='superseded_by', to='batches.batchdocument')),
                ('uploaded_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'Paper',
                'verbose_name_plural': 'Papers',
                'ordering': ['uploaded_at', 'id'],
                'indexes': [models.Index(fields=['batch', 'uploaded_at'], name='document_batch_at')],
            },
        ),
        migrations.RunPython(immutable, mutable),
    ]
