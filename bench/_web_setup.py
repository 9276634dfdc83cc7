"""Set-up and clean-up for bench/bench_web.sh (not a benchmark by itself).

    python bench/_web_setup.py create OUT_DIR   # new database: demo world + coded batches (20, ~3,000 codes)
    python bench/_web_setup.py writes OUT_DIR   # the batches the release and sale runs use up
    python bench/_web_setup.py drop             # drop the database again

DATABASE_URL names the benchmark's own database; `create` drops and re-creates it. Values the
benchmark needs (API tokens, a code to scan, a batch number, ...) are written to OUT_DIR as
files of one value each; the sale tokens as one token a line.
"""

import itertools
import os
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

READ_BATCHES = 13  # with the demo world's 7: 20 batches
READ_QUANTITIES = {"coat": 100, "sweater": 128}  # 228 codes each; with the demo's 32: 2,996 codes
RELEASE_BATCHES = int(os.environ.get("BENCH_RELEASE_ROUNDS", "5"))
SALE_CODES = int(os.environ.get("BENCH_SALE_CODES", "40000"))
SALE_WARM_CODES = 10_000  # sold in the warm-up
SALE_BATCH_SIZE = 2000


def server_and_name() -> tuple[str, str]:
    base, _, name = os.environ["DATABASE_URL"].rpartition("/")
    return f"{base}/postgres", name


def recreate(drop_only=False):
    server, name = server_and_name()
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django():
    import django

    django.setup()
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # demo users only


def coded(key: str, quantities: dict, seeder, operator, warehouse):
    """A batch walked through a full rest and coded (seed_demo's history), with these line sizes;
    its first 20 codes are released."""
    from batches.management.commands import seed_demo

    saved = {name: seed_demo.LINES[name]["quantity"] for name in quantities}
    for name, quantity in quantities.items():
        seed_demo.LINES[name]["quantity"] = quantity
    try:
        return seeder.history(key, operator, warehouse)
    finally:
        for name, quantity in saved.items():
            seed_demo.LINES[name]["quantity"] = quantity


def write(out: Path, name: str, value) -> None:
    (out / name).write_text(f"{value}\n")


def create(out: Path) -> None:
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from knox.models import AuthToken

    from batches.management.commands.seed_demo import Command as SeedDemo
    from batches.models import Batch, Code
    from markets.models import Market
    from warehouse.models import Warehouse

    call_command("migrate", verbosity=0)
    call_command("seed_demo", password="bench-pass-123", verbosity=0)
    seeder = SeedDemo()
    operator = seeder.actor("operator-1")
    warehouse = Warehouse.objects.get(code="WH-1")
    batches = [coded(f"BENCH-WEB-{i:02d}", READ_QUANTITIES, seeder, operator, warehouse) for i in range(READ_BATCHES)]
    users = get_user_model().objects
    for username in ("operator-1", "merchant-a1"):
        write(out, f"token-{username}", AuthToken.objects.create(user=users.get(username=username))[1])
    write(out, "batches", Batch.objects.count())
    write(out, "codes", Code.objects.count())
    write(out, "market-pk", Market.objects.order_by("pk").first().pk)
    batch = batches[len(batches) // 2]
    write(out, "batch-number", batch.number)
    in_warehouse = batch.codes.filter(status="in_warehouse").order_by("item_no")
    write(out, "scan-token", in_warehouse[0].token)
    write(out, "public-token", in_warehouse[1].token)
    analyze()


def analyze() -> None:
    """The tables after the bulk set-up as autovacuum leaves them in a running system: fresh
    planner statistics (a freshly filled table otherwise reads as nearly empty to the planner)
    and the visibility map set, so that counts read the index alone and autovacuum does not
    start on the new rows in the middle of a measurement."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def writes(out: Path) -> None:
    """Batches of merchant-a1 in WH-1: RELEASE_BATCHES with 1,000 codes in the warehouse each,
    and SALE_WARM_CODES + SALE_CODES released codes, in the order the sale run takes them."""
    setup_django()
    from batches import services
    from batches.management.commands.seed_demo import Command as SeedDemo
    from warehouse.models import Warehouse

    seeder = SeedDemo()
    operator = seeder.actor("operator-1")
    warehouse = Warehouse.objects.get(code="WH-1")
    numbers, tokens, per_batch = [], [], []
    for i in range(RELEASE_BATCHES):
        batch = coded(f"BENCH-REL-{i:02d}", {"coat": 510, "sweater": 510}, seeder, operator, warehouse)
        numbers.append(batch.number)
        rows = batch.codes.filter(status="in_warehouse").order_by("item_no").values_list("token", flat=True)[:1000]
        (out / f"release-{i}.json").write_text('{"codes": ["' + '", "'.join(rows) + '"]}')
    write(out, "release-numbers", " ".join(numbers))
    for i in range((SALE_WARM_CODES + SALE_CODES + SALE_BATCH_SIZE - 1) // SALE_BATCH_SIZE):
        half = SALE_BATCH_SIZE // 2
        batch = coded(f"BENCH-SALE-{i:02d}", {"coat": half, "sweater": half}, seeder, operator, warehouse)
        services.batch_release(batch=batch, actor=operator, release_all=True)
        released = list(batch.codes.filter(status="released").order_by("item_no").values_list("token", flat=True))
        per_batch.append([released[k : k + 10] for k in range(0, len(released) - 9, 10)])
    # Sales of 10 codes of one batch each, the batches taking turns: concurrent sales wait for
    # one another only when they sell from the same batch (its row lock), as at a market.
    for groups in itertools.zip_longest(*per_batch):
        tokens += [token for group in groups if group for token in group]
    (out / "sale-tokens-warm").write_text("\n".join(tokens[:SALE_WARM_CODES]) + "\n")
    (out / "sale-tokens").write_text("\n".join(tokens[SALE_WARM_CODES : SALE_WARM_CODES + SALE_CODES]) + "\n")
    analyze()


if __name__ == "__main__":
    command = sys.argv[1:2]
    if command == ["create"]:
        recreate()
        create(Path(sys.argv[2]))
    elif command == ["writes"]:
        writes(Path(sys.argv[2]))
    elif command == ["drop"]:
        recreate(drop_only=True)
    else:
        sys.exit(__doc__)
