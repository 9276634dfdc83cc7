"""The outbox: what one recorded task costs an action (write + hand-over after commit) with
the broker up and with it away, and how fast one relay drains a backlog.

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/<n> .venv/bin/python bench/bench_outbox.py

Messages go to the broker of REDIS_URL (purged afterwards; use a Redis DB nobody consumes), or
to an in-memory broker without REDIS_URL.
"""

import os
import time

from _setup import celery_app, throwaway_database
from django.db import transaction

ACTIONS = 500
BACKLOG = 5000


def main():
    from django.conf import settings

    # The Django setting wins over celery_app.conf (namespace="CELERY"), so that is what is switched.
    broker = os.environ.get("REDIS_URL") or "memory://"
    settings.CELERY_BROKER_URL = broker

    from batches import tasks
    from config.reliability.models import OutboxMessage
    from config.reliability.outbox import enqueue, relay_due

    task = tasks.complete_rest  # with a batch id that does not exist it would do nothing
    with throwaway_database():
        up = time_actions(enqueue, task)
        sent = OutboxMessage.objects.filter(state="sent").count()
        settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
        down = time_actions(enqueue, task)
        pending = OutboxMessage.objects.filter(state="pending").count()
        settings.CELERY_BROKER_URL = broker
        print(
            f"one action recording one task, {ACTIONS} actions: broker up {up:.2f} ms each ({sent} sent at once), "
            f"broker away {down:.2f} ms each ({pending} left pending for the relay)"
        )

        OutboxMessage.objects.all().delete()
        OutboxMessage.objects.bulk_create(OutboxMessage(task_name=task.name, args=[0]) for _ in range(BACKLOG))
        started = time.perf_counter()
        passes = 0
        while True:
            outcome = relay_due()
            assert not outcome.broker_error, outcome.broker_error
            if not outcome.claimed:
                break
            passes += 1
        elapsed = time.perf_counter() - started
        assert OutboxMessage.objects.filter(state="sent").count() == BACKLOG
        print(
            f"relay drains a backlog of {BACKLOG}: {elapsed:.2f} s ({BACKLOG / elapsed:.0f} rows/s, "
            f"{passes} passes of {settings.OUTBOX_RELAY_BATCH})"
        )
        celery_app.control.purge()


def time_actions(enqueue, task) -> float:
    started = time.perf_counter()
    for _ in range(ACTIONS):
        with transaction.atomic():
            enqueue(task, args=[0])
    return (time.perf_counter() - started) * 1000 / ACTIONS


if __name__ == "__main__":
    main()
