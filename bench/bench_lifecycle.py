"""Benchmark (docs/performance.md, Benchmarks): walk N batches of 3 lines through the whole lifecycle through the
services, then time one rest sweep over many due batches (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_lifecycle.py
"""

import argparse
import time
from datetime import timedelta

from _setup import throwaway_database


def walk(count: int) -> float:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from batches import services
    from batches.actors import actor_for
    from batches.demo import create_demo_organisations
    from batches.lifecycle import complete_due_rests
    from warehouse.models import Warehouse

    create_demo_organisations(password="bench-pass-123")
    users = {u.username: actor_for(u) for u in get_user_model().objects.all()}
    merchant, reviewer, operator = users["merchant-a1"], users["reviewer-a"], users["operator-1"]
    wh1 = Warehouse.objects.get(code="WH-1")
    lines = [
        {"product_name": f"商品 {i}", "category": "服装", "specification": "M", "quantity": 2, "unit": "件", "gtin": ""}
        for i in range(3)
    ]
    start_of_history = timezone.now() - timedelta(seconds=settings.REST_PERIOD_SECONDS) - timedelta(days=1)
    started = time.perf_counter()
    batches = []
    for i in range(count):
        at = start_of_history
        batch = services.batch_declare(
            actor=merchant,
            market=merchant.market,
            customs_declaration_no=f"B{i}",
            origin_country="IT",
            port_of_entry="上海",
            lines=lines,
            now=at,
        )
        services.batch_submit(batch=batch, actor=merchant, now=at)
        services.batch_approve(batch=batch, actor=reviewer, warehouse=wh1, now=at)
        services.batch_arrive(
            batch=batch,
            actor=operator,
            now=at,
            lines=[
                {"line": line.pk, "received_quantity": 2, "type_matches": True, "spec_matches": True}
                for line in batch.lines.all()
            ],
        )
        services.batch_disinfect(
            batch=batch, actor=operator, agent="含氯", concentration="500 mg/L", method="喷洒", now=at
        )
        services.batch_move_to_resting(batch=batch, actor=operator, now=at)
        services.batch_record_sample(batch=batch, actor=operator, sample_no="S1", lab="CDC", now=at)
        services.batch_record_test_result(
            batch=batch, actor=operator, sample_no="S1", result="negative", report_no="R1", now=at
        )
        batches.append(batch)
    while complete_due_rests(limit=1000):
        pass
    for batch in batches:
        services.batch_move_to_storage(batch=batch, actor=operator)
        services.batch_issue_codes(batch=batch, actor=operator)
        services.batch_release(batch=batch, actor=operator, release_all=True)
    return time.perf_counter() - started


def sweep(due: int) -> tuple[float, int, int]:
    """Insert `due` resting batches whose rest has passed, then time one full sweep."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from batches.models import Batch, Event
    from batches.tasks import sweep_due_rests
    from markets.models import Merchant
    from warehouse.models import Warehouse

    merchant = Merchant.objects.select_related("market").get(user__username="merchant-a1")
    wh1 = Warehouse.objects.get(code="WH-1")
    past = timezone.now() - timedelta(minutes=5)
    prefix = f"SWEEP-{due}-{time.monotonic_ns()}"
    Batch.objects.bulk_create(
        (
            Batch(
                number=f"{prefix}-{i}",
                market=merchant.market,
                merchant=merchant,
                warehouse=wh1,
                status="resting",
                customs_declaration_no="S",
                origin_country="IT",
                port_of_entry="Y",
                rest_started_at=past,
                rest_until=past,
            )
            for i in range(due)
        ),
        batch_size=5000,
    )
    events_before = Event.objects.count()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        moved = sweep_due_rests()
        elapsed = time.perf_counter() - started
    assert moved == due and Event.objects.count() - events_before == due
    return elapsed, moved, len(queries)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--due", type=int, default=10000)
    args = parser.parse_args()
    from django.conf import settings
    from django.db import connection

    with throwaway_database():
        print(f"database: {connection.vendor}; REST_SWEEP_BATCH_SIZE={settings.REST_SWEEP_BATCH_SIZE}")
        elapsed = walk(args.batches)
        print(
            f"lifecycle walk: {args.batches} batches × 3 lines, declare → released: {elapsed:.1f} s "
            f"({args.batches / elapsed:.0f} batches/s)"
        )
        for due in sorted({args.due // 4, args.due // 2, args.due}):
            elapsed, moved, queries = sweep(due)
            chunks = -(-moved // settings.REST_SWEEP_BATCH_SIZE)
            print(
                f"rest sweep: {moved:>6} due batches in {elapsed:.2f} s ({moved / elapsed:,.0f}/s), "
                f"{queries} queries = {queries / chunks:.1f} per chunk of {settings.REST_SWEEP_BATCH_SIZE}, "
                f"{queries / moved:.4f} per batch"
            )


if __name__ == "__main__":
    main()
