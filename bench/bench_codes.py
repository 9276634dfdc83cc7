"""Benchmark (docs/performance.md, Benchmarks): issuing codes for one large batch through the service, beside a raw
PostgreSQL `COPY` of the same rows into the same table, in the same run (target ≥ 0.3 of COPY).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_codes.py [--count 100000]

Works in a database of its own, `bench_codes`, created and dropped by Django's test-database
machinery. Each round issues `--count` codes for a fresh stored batch through
`batch_issue_codes` (gate check, lock, chunked bulk inserts, event), then COPYs as many
pre-generated rows (`cursor.copy`, psycopg 3) for another batch; the best round of each counts.
First, a label sheet of `--labels` codes is built from the database as the Celery task builds it.
"""

import argparse
import resource
import statistics
import time
from datetime import timedelta

from _setup import throwaway_database

COPY_SQL = "COPY batches_code (batch_id, line_id, item_no, serial, token, status, issued_at) FROM STDIN"


def stored_batch(tag: str, count: int):
    """A batch of `count` items in storage whose gate (R2) is met: set up directly, not timed."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from batches.models import Batch, BatchLine, Sample, Status, TestResult
    from markets.models import Merchant
    from warehouse.models import Warehouse

    merchant = Merchant.objects.select_related("market").get(user__username="merchant-a1")
    operator = get_user_model().objects.get(username="operator-1")
    past = timezone.now() - timedelta(days=8)
    batch = Batch.objects.create(
        number=f"BENCH-{tag}",
        market=merchant.market,
        merchant=merchant,
        warehouse=Warehouse.objects.get(code="WH-1"),
        status=Status.STORED,
        customs_declaration_no="BENCH",
        origin_country="IT",
        port_of_entry="上海",
        rest_started_at=past,
        rest_until=past + timedelta(days=7),
    )
    line = BatchLine.objects.create(
        batch=batch,
        product_name="羊毛大衣",
        category="服装",
        specification="M",
        quantity=count,
        received_quantity=count,
        unit="件",
        gtin="09506000134352",
        type_matches=True,
        spec_matches=True,
    )
    sample = Sample.objects.create(batch=batch, cycle=1, sample_no="S1", lab="CDC", taken_by=operator, taken_at=past)
    TestResult.objects.create(
        sample=sample,
        result=TestResult.Outcome.NEGATIVE,
        report_no="R1",
        recorded_by=operator,
        recorded_at=past + timedelta(days=1),
    )
    return batch, line


def issue_through_service(tag: str, count: int) -> float:
    from django.contrib.auth import get_user_model

    from batches import services
    from batches.actors import actor_for

    batch, _line = stored_batch(f"SVC-{tag}", count)
    operator = actor_for(get_user_model().objects.get(username="operator-1"))
    started = time.perf_counter()
    services.batch_issue_codes(batch=batch, actor=operator)
    elapsed = time.perf_counter() - started
    assert batch.codes.count() == count
    return elapsed


def issue_through_copy(tag: str, count: int) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from batches.models import CodeStatus
    from batches.services import new_serials, new_tokens

    batch, line = stored_batch(f"COPY-{tag}", count)
    now = timezone.now()
    rows = [
        (batch.pk, line.pk, item_no, serial, token, CodeStatus.IN_WAREHOUSE.value, now)
        for item_no, (token, serial) in enumerate(zip(new_tokens(count), new_serials(count), strict=True), start=1)
    ]
    started = time.perf_counter()
    # cursor.cursor: the psycopg 3 cursor under Django's wrapper
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(COPY_SQL) as copy:
        for row in rows:
            copy.write_row(row)
    elapsed = time.perf_counter() - started
    assert batch.codes.count() == count
    return elapsed


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def label_sheet_from_database(count: int) -> tuple[float, float, int]:
    """A coded batch of `count` items; its label sheet built the way the Celery task builds it
    (`label_job_build`: codes streamed from the database into the PDF). Seconds, growth of the
    process's peak RSS while building (run first, before anything larger), PDF bytes."""
    from django.contrib.auth import get_user_model

    from batches import services
    from batches.actors import actor_for
    from warehouse.label_sheets import label_job_start
    from warehouse.models import LabelJob
    from warehouse.tasks import build_label_sheet

    batch, _line = stored_batch(f"LABELS-{count}", count)
    operator = actor_for(get_user_model().objects.get(username="operator-1"))
    services.batch_issue_codes(batch=batch, actor=operator)
    batch.refresh_from_db()
    job = label_job_start(batch=batch, actor=operator, total=count)  # queued on the unconsumed memory broker
    before = rss_mib()
    started = time.perf_counter()
    assert build_label_sheet(str(job.pk))  # what the worker runs
    elapsed = time.perf_counter() - started
    growth = max(peak_rss_mib() - before, 0.0)
    job = LabelJob.objects.get(pk=job.pk)
    assert (job.state, job.done) == (LabelJob.State.DONE, count)
    return elapsed, growth, job.file.size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--labels", type=int, default=3000, help="codes in the label-sheet figure (0: skip)")
    args = parser.parse_args()

    from django.db import connection

    from batches import services

    connection.settings_dict.setdefault("TEST", {})["NAME"] = "bench_codes"
    with throwaway_database():
        if connection.vendor != "postgresql":
            raise SystemExit("bench_codes needs PostgreSQL (DATABASE_URL=postgres://...) for the COPY reference")
        from batches.demo import create_demo_organisations

        create_demo_organisations(password="bench-pass-123")
        print(
            f"database: {connection.vendor}; {args.count:,} codes per round, {args.rounds} rounds, "
            f"chunk {services.CODE_CHUNK:,} rows"
        )
        if args.labels:  # first, while the process is small, so that its memory growth shows
            elapsed, growth, size = label_sheet_from_database(args.labels)
            print(
                f"label sheet from the database, {args.labels:,} codes (the Celery task's path): {elapsed:.1f} s "
                f"(target < 15 s), {size / 2**20:.1f} MiB PDF, peak RSS grew {growth:.0f} MiB"
            )
        service, copy = [], []
        for round_no in range(args.rounds):  # alternate, so neither side gets the warmer table
            service.append(issue_through_service(str(round_no), args.count))
            copy.append(issue_through_copy(str(round_no), args.count))
        best_service, best_copy = min(service), min(copy)
        print(
            f"issue codes (service): best {args.count / best_service:>9,.0f} rows/s ({best_service:.2f} s), "
            f"median {args.count / statistics.median(service):,.0f} rows/s"
        )
        print(
            f"raw COPY (reference):  best {args.count / best_copy:>9,.0f} rows/s ({best_copy:.2f} s), "
            f"median {args.count / statistics.median(copy):,.0f} rows/s"
        )
        ratio = best_copy / best_service
        print(f"ratio service / COPY: {ratio:.2f} (target ≥ 0.30) {'OK' if ratio >= 0.3 else 'BELOW TARGET'}")
        print(f"peak RSS of the benchmark process: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
