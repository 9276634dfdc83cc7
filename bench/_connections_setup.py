"""Set-up and clean-up for bench/bench_connections.sh (not a benchmark by itself).

    python bench/_connections_setup.py create   # new database, migrated, demo world + coded batches
    python bench/_connections_setup.py drop     # drop it again

DATABASE_URL names the benchmark's own database; it is dropped and re-created. `create` prints
the token of one code in warehouse WH-1, the value the benchmark scans as operator-1.
"""

import os
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

CODED_BATCHES = 5


def server_and_name() -> tuple[str, str]:
    url = os.environ["DATABASE_URL"]
    base, _, name = url.rpartition("/")
    return f"{base}/postgres", name


def recreate(drop_only=False):
    server, name = server_and_name()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def populate() -> str:
    import django

    django.setup()
    from django.core.management import call_command

    from batches.management.commands.seed_demo import Command as SeedDemo
    from batches.models import Code
    from warehouse.models import Warehouse

    call_command("migrate", verbosity=0)
    call_command("seed_demo", password=os.environ["BENCH_PASSWORD"], verbosity=0)
    seeder = SeedDemo()
    operator = seeder.actor("operator-1")
    warehouse = Warehouse.objects.get(code="WH-1")
    for i in range(CODED_BATCHES):  # each walked through a full rest, coded, partly released
        seeder.history(f"BENCH-CONN-{i:02d}", operator, warehouse)
    code = Code.objects.filter(batch__warehouse=warehouse, status="in_warehouse").order_by("id").first()
    return code.token


if __name__ == "__main__":
    if sys.argv[1:] == ["create"]:
        recreate()
        print(populate())
    elif sys.argv[1:] == ["drop"]:
        recreate(drop_only=True)
    else:
        sys.exit(__doc__)
