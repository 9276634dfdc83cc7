"""Digital Link serials become random (SPEC §4): the old sequential `serial` is kept as the
item's number within the batch (`item_no`), and every existing code gets a random serial of
16 base32 characters (80 bits), so sequential paths that were guessable resolve no more."""

import base64
import secrets

from django.db import migrations, models

CHUNK = 5000


def random_serials(count: int) -> list[str]:
    # 10 random bytes encode to exactly 16 base32 characters (as batches.services.new_serials).
    text = base64.b32encode(secrets.token_bytes(10 * count)).decode("ascii")
    return [text[start:start + 16] for start in range(0, 16 * count, 16)]


def give_random_serials(apps, schema_editor):
    """In primary-key order, CHUNK rows per UPDATE: bounded memory and one index walk however
    many codes there are."""
    Code = apps.get_model("batches", "Code")
    last = 0
    while ids := list(Code.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:CHUNK]):
        Code.objects.bulk_update(
            [Code(pk=pk, serial=serial) for pk, serial in zip(ids, random_serials(len(ids)), strict=True)], ["serial"])
        last = ids[-1]


class Migration(migrations.Migration):
    dependencies = [("batches", "0002_events_immutable")]

    operations = [
        migrations.RemoveConstraint(model_name="code", name="code_unique_serial"),
        migrations.RenameField(model_name="code", old_name="serial", new_name="item_no"),
        migrations.AlterModelOptions(
            name="code",
            options={"ordering": ["batch", "item_no"], "verbose_name": "商品码", "verbose_name_plural": "商品码"},
        ),
        migrations.AddConstraint(
            model_name="code",
            constraint=models.UniqueConstraint(fields=("batch", "item_no"), name="code_unique_item_no"),
        ),
        migrations.AddField(model_name="code", name="serial", field=models.CharField(max_length=20, null=True)),
        migrations.RunPython(give_random_serials, migrations.RunPython.noop),
        migrations.AlterField(model_name="code", name="serial", field=models.CharField(max_length=20, unique=True)),
    ]
