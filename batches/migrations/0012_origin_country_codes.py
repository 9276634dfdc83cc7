"""Countries of origin become ISO 3166-1 alpha-2 codes (docs/contract.md, input rules): every
free-text value a declaration holds is read as a code, a Chinese or English name or a known
other name (batches.countries.code_for) and replaced by its code; a value that names no country
becomes UNKNOWN (`ZZ`), so that none is left unmapped. The text as it was is kept in
origin_country_declared (shown beside an unknown country), and going back restores it.

One UPDATE per distinct value, not per batch: a market's declarations repeat a few dozen
countries."""

from django.db import migrations

from batches.countries import code_or_unknown


def map_origin_countries(apps, schema_editor):
    Batch = apps.get_model("batches", "Batch")
    values = Batch.objects.order_by().values_list("origin_country", flat=True).distinct()
    for value in list(values):
        code = code_or_unknown(value)
        if code == value:
            continue  # already a code
        Batch.objects.filter(origin_country=value).update(origin_country=code, origin_country_declared=value)


def restore_origin_countries(apps, schema_editor):
    Batch = apps.get_model("batches", "Batch")
    declared = Batch.objects.exclude(origin_country_declared="").order_by()
    for value in list(declared.values_list("origin_country_declared", flat=True).distinct()):
        declared.filter(origin_country_declared=value).update(origin_country=value, origin_country_declared="")


class Migration(migrations.Migration):
    dependencies = [("batches", "0011_declaration_papers")]
    operations = [migrations.RunPython(map_origin_countries, restore_origin_countries, elidable=False)]
