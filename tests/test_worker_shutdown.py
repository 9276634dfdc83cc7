"""Stopping a Celery worker: SIGTERM ends it within 10 seconds even while a task runs, and the
task it gave up goes back to the queue for the next worker (tasks are acks_late).

The worker is started the way scripts/run.sh and deploy/systemd/warehouse-worker.service start
it: prefork pool, REMAP_SIGTERM=SIGQUIT so that SIGTERM is a cold shutdown after
WORKER_SOFT_SHUTDOWN_SECONDS (Celery 5.5 soft shutdown) instead of a warm one that waits for
every running task. Real processes on the configured broker; the only waits are on them."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app as celery_app

pytestmark = pytest.mark.celery_worker

ROOT = Path(__file__).resolve().parent.parent
STOP_WITHIN = 10.0


class Worker:
    def __init__(self, tmp_path: Path, queue: str, name: str):
        self.log = tmp_path / f"{name}.log"
        env = dict(os.environ, VAR_DIR=str(settings.VAR_DIR), REMAP_SIGTERM="SIGQUIT", CELERY_TASK_ALWAYS_EAGER="0")
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--include",
            "tests.celery_probe",
            "-Q",
            queue,
            "-n",
            f"{name}-{os.getpid()}@%h",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        self.node = f"{name}-{os.getpid()}@{socket.gethostname()}"

    def running_in_pool(self) -> bool:
        """Whether the worker's main process knows which pool process runs its task (until it
        does, a shutdown cannot end that process, and waits for the task instead)."""
        active = celery_app.control.inspect(destination=[self.node], timeout=1.0).active() or {}
        return any(task.get("worker_pid") for tasks in active.values() for task in tasks)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, predicate, what: str, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            assert self.process.poll() is None, f"worker ended before {what}:\n{self.text()}"
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {timeout} s:\n{self.text()}")

    def sigterm(self) -> float:
        """Seconds from SIGTERM until the process has ended."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=60)
        return time.monotonic() - started

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def workers(tmp_path):
    started = []

    def start(queue: str, name: str) -> Worker:
        worker = Worker(tmp_path, queue, name)
        started.append(worker)
        worker.wait_for(lambda: " ready." in worker.text(), "ready")
        return worker

    yield start
    for worker in started:
        worker.kill()


def starts(marker: Path) -> list[str]:
    return re.findall(r"started (\d+)", marker.read_text()) if marker.exists() else []


def test_sigterm_stops_a_busy_worker_within_ten_seconds_and_the_task_is_redelivered(workers, tmp_path):
    queue = f"shutdown-probe-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "probe.txt"
    first = workers(queue, "first")
    celery_app.conf.task_always_eager = False  # send_task goes to the broker; say so
    celery_app.send_task("tests.celery_probe.hold", args=[str(marker), 600], queue=queue)
    first.wait_for(lambda: len(starts(marker)) == 1, "probe task start")
    first.wait_for(first.running_in_pool, "the task known to run in a pool process")

    took = first.sigterm()

    assert first.process.returncode is not None, f"still running after 60 s:\n{first.text()}"
    assert took < STOP_WITHIN, f"stopped after {took:.1f} s:\n{first.text()}"
    assert "Restoring 1 unacknowledged message" in first.text(), first.text()

    # The next worker runs the task the first one gave up.
    second = workers(queue, "second")
    second.wait_for(lambda: len(starts(marker)) == 2, "redelivered probe task")
    second.wait_for(second.running_in_pool, "the task known to run in a pool process")
    took = second.sigterm()
    assert took < STOP_WITHIN, f"stopped after {took:.1f} s:\n{second.text()}"


def test_run_script_and_systemd_unit_start_the_worker_for_a_quick_stop():
    for path in ("scripts/run.sh", "deploy/systemd/warehouse-worker.service"):
        assert "REMAP_SIGTERM=SIGQUIT" in (ROOT / path).read_text(), path
