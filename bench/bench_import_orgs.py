"""`import_orgs` of a city-sized file, on a throw-away database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_import_orgs.py

13 districts, 130 markets, 40 warehouses, 5,000 merchants and 400 staff (5,582 rows): the first
import creates everything, the second changes nothing.
"""

import csv
import io
import tempfile
import time
from pathlib import Path

from _setup import throwaway_database

DISTRICTS, MARKETS_PER_DISTRICT, WAREHOUSES_PER_DISTRICT, MERCHANTS, STAFF = 13, 10, 3, 5000, 400


def records():
    from batches.organisations import COLUMNS
    from markets.models import credit_code_check_character

    header = list(COLUMNS)
    yield header

    def row(kind, **values):
        return [kind] + [str(values.get(column, "")) for column in header[1:]]

    markets, warehouses = [], []
    for d in range(DISTRICTS):
        district = f"3301{d:02d}"
        yield row("district", code=district, name=f"辖区{d}")
        codes = [f"M{d:02d}-{m}" for m in range(MARKETS_PER_DISTRICT)]
        for code in codes:
            markets.append(code)
            yield row("market", code=code, name=f"市场 {code}", district=district)
        for w in range(WAREHOUSES_PER_DISTRICT):
            code = f"W{d:02d}-{w}"
            warehouses.append(code)
            yield row(
                "warehouse",
                code=code,
                name=f"监管仓 {code}",
                district=district,
                area_m2=300,
                serves=";".join(codes[w::WAREHOUSES_PER_DISTRICT]),
            )
    for i in range(MERCHANTS):
        first17 = f"9133010{i % 10}MA{i:08d}"[:17]
        yield row(
            "merchant",
            username=f"m{i}",
            name=f"商行{i}",
            market=markets[i % len(markets)],
            stall=f"S-{i}",
            credit_code=first17 + credit_code_check_character(first17),
            phone=f"138{i:08d}",
        )
    for i in range(STAFF):
        kind = ("reviewer", "operator", "regulator")[i % 3]
        yield row(
            kind,
            username=f"s{i}",
            name=f"员工{i}",
            market=markets[i % len(markets)] if kind == "reviewer" else "",
            warehouse=warehouses[i % len(warehouses)] if kind == "operator" else "",
            district=f"3301{i % DISTRICTS:02d}" if kind == "regulator" else "",
        )


def main():
    with throwaway_database():
        from django.core.management import call_command

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "orgs.csv"
            rows = list(records())
            with open(path, "w", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerows(rows)
            timings = []
            for _run in range(2):
                started = time.perf_counter()
                call_command("import_orgs", str(path), stdout=io.StringIO())
                timings.append(time.perf_counter() - started)
        print(f"import_orgs of {len(rows) - 1:,} rows: first {timings[0]:.1f} s, rerun (no change) {timings[1]:.1f} s")


if __name__ == "__main__":
    main()
