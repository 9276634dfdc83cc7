"""R3 with real components: a Celery worker (and beat) in a subprocess, on the configured
broker (Redis in CI, the filesystem broker on a laptop), against the test database.

These are the only tests that wait on the wall clock: they prove a real worker fires the timer.
"""

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from batches.models import Batch, Event
from config.celery import app as celery_app

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    def __init__(self, tmp_path: Path, *, beat: bool, env: dict | None = None):
        self.log = tmp_path / "worker.log"
        env = dict(
            os.environ,
            DATABASE_URL=database_url(),
            REST_SWEEP_SECONDS="1",
            REST_PERIOD_SECONDS=str(settings.REST_PERIOD_SECONDS),
            VAR_DIR=str(settings.VAR_DIR),
            CELERY_TASK_ALWAYS_EAGER="0",
            **(env or {}),
        )
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--purge",
            "-n",
            f"test-{os.getpid()}@%h",
        ]
        if beat:
            command += ["--beat", "--schedule", str(tmp_path / "beat-schedule")]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log.read_text(errors="replace"):
                return
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.2)
        raise AssertionError(f"worker not ready:\n{self.log.read_text()}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def start_worker(tmp_path):
    started = []

    def start(*, beat: bool, env: dict | None = None) -> Worker:
        worker = Worker(tmp_path, beat=beat, env=env)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for_status(number: str, status: str, worker: Worker, timeout=45) -> Batch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = Batch.objects.get(number=number)
        if batch.status == status:
            return batch
        time.sleep(0.25)
    raise AssertionError(f"{number} still {batch.status}; worker log:\n{worker.log.read_text()}")


def test_the_worker_ends_the_rest_through_the_broker_at_rest_until(
    flow, settings, start_worker, django_capture_on_commit_callbacks
):
    settings.REST_PERIOD_SECONDS = 3
    worker = start_worker(beat=False)  # no beat: only the ETA task queued on commit can move it
    flow.disinfected()
    celery_app.conf.task_always_eager = False
    with django_capture_on_commit_callbacks(execute=True):
        resting = flow.post(flow.operator, "move-to-resting")
    assert resting["status"] == "resting"

    batch = wait_for_status(flow.number, "rest_complete", worker)

    event = Event.objects.get(batch=batch, action="complete_rest")
    assert event.role == "system" and "by" not in event.details
    assert event.at >= batch.rest_until  # never before the deadline (R1)


def test_a_rest_that_ended_while_no_worker_ran_is_moved_by_the_first_sweep(flow, settings, start_worker):
    settings.REST_PERIOD_SECONDS = 7 * 24 * 3600
    import time_machine

    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False):
        flow.resting()  # its timer fired at once (eager) and did nothing: not due then
    batch = Batch.objects.get(number=flow.number)
    assert batch.status == "resting" and batch.rest_until < timezone.now()

    worker = start_worker(beat=True)  # the broker holds no timer for it: only the sweep can move it

    batch = wait_for_status(flow.number, "rest_complete", worker)
    event = Event.objects.get(batch=batch, action="complete_rest")
    assert event.details["by"] == "sweep"


def test_the_worker_retries_a_failing_label_build_then_records_why_it_failed(
    flow, settings, start_worker, tmp_path, django_capture_on_commit_callbacks
):
    """Celery's own retry on the real broker: a build that cannot write its file is tried again
    LABEL_JOB_AUTO_RETRIES times, then the job ends `failed` with a reason for people."""
    import time_machine

    from warehouse.models import LabelJob

    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False):
        flow.resting()
        flow.sample()
        flow.result("negative")
    from batches.tasks import sweep_due_rests

    sweep_due_rests()  # the rest is over (in-process here: this test is about the label task)
    flow.post(flow.operator, "move-to-storage")
    flow.post(flow.operator, "issue-codes")
    settings.LABELS_SYNC_MAX = 2
    blocker = tmp_path / "media-is-a-file"
    blocker.write_text("")
    worker = start_worker(
        beat=False, env={"MEDIA_ROOT": str(blocker), "LABEL_JOB_AUTO_RETRIES": "1", "LABEL_JOB_RETRY_SECONDS": "1"}
    )
    celery_app.conf.task_always_eager = False
    with django_capture_on_commit_callbacks(execute=True):
        asked = flow.api(flow.operator).get(f"/api/batches/{flow.number}/labels.pdf")
    assert asked.status_code == 202

    deadline = time.monotonic() + 45
    while (job := LabelJob.objects.get(pk=asked.json()["id"])).state != "failed" and time.monotonic() < deadline:
        time.sleep(0.25)
    assert (job.state, job.error_code, job.attempts) == ("failed", "storage", 2), worker.log.read_text()
    assert "标签文件无法写入" in job.error
    assert "Retry in 1s" in worker.log.read_text()


# --- the outbox relay (nothing lost when the broker is away) -------------------------------


def start_relay(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "relay.log"
    env = dict(
        os.environ,
        DATABASE_URL=database_url(),
        VAR_DIR=str(settings.VAR_DIR),
        CELERY_TASK_ALWAYS_EAGER="0",
        OUTBOX_POLL_SECONDS="0.2",
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "outbox_relay"], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    return process, log


@pytest.fixture
def relay_process(tmp_path):
    started = []

    def start():
        process, log = start_relay(tmp_path)
        started.append(process)
        return process, log

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_a_timer_recorded_while_the_broker_was_away_reaches_the_worker_through_the_relay_once(
    flow, settings, start_worker, relay_process, django_capture_on_commit_callbacks
):
    from config.reliability.models import OutboxMessage

    # given a web process whose broker is unreachable when the batch enters resting
    settings.REST_PERIOD_SECONDS = 4
    flow.disinfected()
    broker = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    celery_app.conf.task_always_eager = False
    with django_capture_on_commit_callbacks(execute=True):
        assert flow.post(flow.operator, "move-to-resting")["status"] == "resting"
    timer = OutboxMessage.objects.get(task_name="batches.tasks.complete_rest")
    assert timer.state == "pending"
    settings.CELERY_BROKER_URL = broker

    # when a worker (no beat: only the timer can move it) and the relay run on the real broker
    worker = start_worker(beat=False)
    relay, log = relay_process()

    # then the timer reaches the worker and ends the rest, once
    batch = wait_for_status(flow.number, "rest_complete", worker)
    assert Event.objects.filter(batch=batch, action="complete_rest").count() == 1
    deadline = time.monotonic() + 20
    while OutboxMessage.objects.get(pk=timer.pk).state != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert OutboxMessage.objects.get(pk=timer.pk).state == "done", log.read_text()

    # and the relay stops cleanly on SIGTERM within two seconds
    relay.terminate()
    assert relay.wait(timeout=2) == 0, log.read_text()
    assert "outbox relay stopped" in log.read_text()
