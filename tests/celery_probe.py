"""A task that only the worker-shutdown test sends: it notes that it started, then holds the
worker busy. The test's worker imports it with `--include tests.celery_probe`."""

import os
import time

from celery import shared_task


@shared_task(name="tests.celery_probe.hold")
def hold(marker: str, seconds: float) -> None:
    with open(marker, "a") as f:
        f.write(f"started {os.getpid()}\n")
    time.sleep(seconds)
