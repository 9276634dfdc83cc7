"""Drops the sales' single-column merchant index: sale_merchant_sold_at begins with the merchant,
and every sale would otherwise update both. Its brief lock waits at most 10 s for a long read
to finish (the migration then fails and is run again), rather than holding every sale behind it."""

from django.db import migrations, models
import django.db.models.deletion


def limit_lock_waits(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET LOCAL lock_timeout = '10s'")  # for this migration's transaction


class Migration(migrations.Migration):
    dependencies = [
        ("markets", "0006_merge_english_labels_city_level"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="sale",
                    name="merchant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sales",
                        to="markets.merchant",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunPython(limit_lock_waits, migrations.RunPython.noop),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "markets_sale_merchant_id_9c209bc4"',
                    'CREATE INDEX IF NOT EXISTS "markets_sale_merchant_id_9c209bc4" ON "markets_sale" ("merchant_id")',
                ),
            ],
        ),
    ]
