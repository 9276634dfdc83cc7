"""A large label sheet whose build fails says so, and can be built again.

Given a coded batch of five items in WH-1 and LABELS_SYNC_MAX of 2 (so its sheet is a job
built by the Celery task, here run in-process after commit):

- a build that fails ends `failed` with a message for the person who prints (no traceback),
  visible in GET /api/label-jobs/{id}/; a failure that may pass is retried by the task first;
- a job whose worker died (no progress for LABEL_JOB_STALE_SECONDS) shows as failed;
- a failed or dead job is queued again by POST /api/label-jobs/{id}/retry/ (or by asking for
  the sheet again) as the same job, and then builds.
"""

import pytest

from warehouse.models import LabelJob


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LABELS_SYNC_MAX = 2
    return settings


@pytest.fixture
def broken_disk(media, tmp_path):
    """MEDIA_ROOT is a file, not a folder: nothing can be written under it (a real OSError)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    media.MEDIA_ROOT = blocker
    return media


@pytest.fixture
def task_errors_as_a_worker_sees_them(settings):
    """In-process tasks hand their errors (and Celery's Retry) to the worker's machinery, as a
    real worker does, instead of raising them into the test: so the task's retries run."""
    from config.celery import app as celery_app

    del settings.CELERY_TASK_EAGER_PROPAGATES  # else Celery reads the Django setting first
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = True


def ask_for_labels(api, flow, capture, username="operator-1"):
    with capture(execute=True):
        response = api(username).get(f"/api/batches/{flow.number}/labels.pdf")
    assert response.status_code == 202, response.content[:300]
    return response.json()


def test_a_build_that_keeps_failing_is_retried_by_the_task_then_failed_with_a_reason(
    api, flow, clock, broken_disk, task_errors_as_a_worker_sees_them, django_capture_on_commit_callbacks
):
    broken_disk.LABEL_JOB_AUTO_RETRIES = 2
    flow.coded(clock)

    job = ask_for_labels(api, flow, django_capture_on_commit_callbacks)
    status = api("operator-1").get(job["status_url"]).json()

    assert (status["state"], status["error_code"], status["attempts"]) == ("failed", "storage", 3)
    assert "标签文件无法写入" in status["error"]
    assert "Traceback" not in status["error"] and "Errno" not in status["error"]
    assert status["download_url"] is None
    assert status["retry_url"].endswith(f"/api/label-jobs/{job['id']}/retry/")
    assert LabelJob.objects.get(pk=job["id"]).finished_at is not None
    refused = api("operator-1").get(f"/api/label-jobs/{job['id']}/download/")
    assert refused.status_code == 409 and refused.json()["code"] == "label_job_not_ready"


def test_a_failed_job_is_retried_in_place_and_then_builds(
    api, flow, clock, broken_disk, tmp_path, django_capture_on_commit_callbacks
):
    broken_disk.LABEL_JOB_AUTO_RETRIES = 0
    flow.coded(clock)
    job = ask_for_labels(api, flow, django_capture_on_commit_callbacks)
    assert api("operator-1").get(job["status_url"]).json()["state"] == "failed"

    broken_disk.MEDIA_ROOT = tmp_path / "media"  # the disk is repaired
    with django_capture_on_commit_callbacks(execute=True):
        retried = api("operator-1").post(f"/api/label-jobs/{job['id']}/retry/")

    assert retried.status_code == 202 and retried.json()["id"] == job["id"]
    status = api("operator-1").get(job["status_url"]).json()
    assert (status["state"], status["done"], status["error"], status["attempts"]) == ("done", 5, "", 2)
    assert status["retry_url"] is None
    download = api("operator-1").get(status["download_url"])
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"%PDF")


def test_asking_for_the_sheet_again_retries_the_failed_job(
    api, flow, clock, broken_disk, tmp_path, django_capture_on_commit_callbacks
):
    broken_disk.LABEL_JOB_AUTO_RETRIES = 0
    flow.coded(clock)
    failed = ask_for_labels(api, flow, django_capture_on_commit_callbacks)
    broken_disk.MEDIA_ROOT = tmp_path / "media"

    again = ask_for_labels(api, flow, django_capture_on_commit_callbacks)

    assert again["id"] == failed["id"]
    assert api("operator-1").get(failed["status_url"]).json()["state"] == "done"
    assert LabelJob.objects.count() == 1


def test_a_job_whose_worker_died_shows_as_failed_and_can_be_retried(
    api, flow, clock, media, django_capture_on_commit_callbacks
):
    media.LABEL_JOB_STALE_SECONDS = 300
    flow.coded(clock)
    with django_capture_on_commit_callbacks(execute=False):  # the task is never delivered here
        job = api("operator-1").get(f"/api/batches/{flow.number}/labels.pdf").json()
    # Given a worker that claimed the job and was killed half-way
    LabelJob.objects.filter(pk=job["id"]).update(state="running", done=2, attempts=1)
    operator = api("operator-1")

    assert operator.get(job["status_url"]).json()["state"] == "running"
    early = operator.post(f"/api/label-jobs/{job['id']}/retry/")
    assert early.status_code == 409 and early.json()["code"] == "label_job_not_failed"

    clock.shift(301)  # no progress for longer than LABEL_JOB_STALE_SECONDS
    status = operator.get(job["status_url"]).json()
    assert (status["state"], status["error_code"]) == ("failed", "worker_lost")
    assert "中断" in status["error"] and status["retry_url"]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        retried = operator.post(status["retry_url"])
    assert retried.status_code == 202 and len(callbacks) == 1
    assert operator.get(job["status_url"]).json()["state"] == "done"
    # Done is done: nothing to retry
    assert operator.post(status["retry_url"]).status_code == 409


def test_two_retries_at_once_queue_the_job_once(api, flow, clock, broken_disk, django_capture_on_commit_callbacks):
    broken_disk.LABEL_JOB_AUTO_RETRIES = 0
    flow.coded(clock)
    job = ask_for_labels(api, flow, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = api("operator-1").post(f"/api/label-jobs/{job['id']}/retry/")
        second = api("operator-1").post(f"/api/label-jobs/{job['id']}/retry/")

    assert (first.status_code, second.status_code) == (202, 409)
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    "username, expected",
    [("operator-2", 404), ("merchant-b1", 404), ("merchant-a1", 403), ("regulator", 403), (None, 401)],
)
def test_only_the_batch_warehouse_crew_retries(
    api, flow, clock, broken_disk, django_capture_on_commit_callbacks, username, expected
):
    broken_disk.LABEL_JOB_AUTO_RETRIES = 0
    flow.coded(clock)
    job = ask_for_labels(api, flow, django_capture_on_commit_callbacks)

    assert api(username).post(f"/api/label-jobs/{job['id']}/retry/").status_code == expected
    assert LabelJob.objects.get(pk=job["id"]).state == "failed"
