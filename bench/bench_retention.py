"""Buyers' data retention: `buyers_anonymise` over many sales, on a throw-away database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_retention.py

200,000 sales, 150,000 of them older than the retention: the first run anonymises those in
chunks of BUYER_ANONYMISE_CHUNK_SIZE; the second finds nothing to do.
"""

import time
from datetime import timedelta

from _setup import throwaway_database

SALES, OLD = 200_000, 150_000


def main():
    with throwaway_database() as connection:
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import reset_queries
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from batches.demo import create_demo_organisations
        from markets.models import Merchant, Sale
        from markets.retention import buyers_anonymise

        create_demo_organisations(password="bench-pass-123")
        merchant = Merchant.objects.get(user__username="merchant-a1")
        seller = get_user_model().objects.get(username="merchant-a1")
        now = timezone.now()
        retention = timedelta(days=settings.BUYER_DATA_RETENTION_DAYS)
        rows = []
        for i in range(SALES):
            sold_at = now - retention - timedelta(days=1, minutes=i) if i < OLD else now - timedelta(minutes=i)
            rows.append(
                Sale(
                    merchant=merchant,
                    sold_by=seller,
                    buyer_name=f"买家{i}",
                    buyer_phone=f"139{i:08d}",
                    buyer_kind="consumer",
                    sold_at=sold_at,
                )
            )
            if len(rows) == 10_000:
                Sale.objects.bulk_create(rows)
                rows = []
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE markets_sale") if connection.vendor == "postgresql" else None

        started = time.perf_counter()
        due = buyers_anonymise(dry_run=True).due
        dry = time.perf_counter() - started

        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            result = buyers_anonymise()
            first = time.perf_counter() - started
        chunks = -(-result.anonymised // settings.BUYER_ANONYMISE_CHUNK_SIZE)

        started = time.perf_counter()
        again = buyers_anonymise()
        second = time.perf_counter() - started

        assert due == OLD and result.anonymised == OLD and again.anonymised == 0
        assert Sale.objects.filter(buyer_name="已匿名").count() == OLD
        print(
            f"{SALES:,} sales, {OLD:,} older than {settings.BUYER_DATA_RETENTION_DAYS} days "
            f"({connection.vendor}, chunk {settings.BUYER_ANONYMISE_CHUNK_SIZE})"
        )
        print(f"dry run (count): {dry:.2f} s")
        print(
            f"first run: {first:.2f} s, {OLD / first:,.0f} sales/s, {len(queries)} queries "
            f"({len(queries) / chunks:.1f} per chunk of {settings.BUYER_ANONYMISE_CHUNK_SIZE})"
        )
        print(f"second run (nothing to do): {second:.3f} s")


if __name__ == "__main__":
    main()
