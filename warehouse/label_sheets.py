"""Printable label sheets for a coded batch: one QR label per code.

A sheet of up to LABELS_SYNC_MAX codes is written while the operator waits; a larger one
becomes a `LabelJob` that a Celery task builds (`label_job_build`) while the operator polls
its progress. Either way the codes are streamed from the database in chunks into
`batches.labels.write_label_pdf`, which writes page by page, so memory does not grow with the
size of the batch.
"""

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from batches.actors import Actor
from batches.errors import DomainError
from batches.labels import FontNotFound, Label, write_label_pdf
from batches.lifecycle import allowed_actions
from batches.models import Batch, Code, Status
from config.reliability import outbox

from .models import LabelJob
from .selectors import first_negative_result, local_date, qr_url

logger = logging.getLogger(__name__)

# Labels are printed for goods that are coded; after release the crew may still reprint one.
PRINTABLE = {Status.CODED, Status.RELEASED}
LABEL_DIR = "labels"


def label_codes(batch: Batch):
    """The batch's codes in item order, with only the columns a label needs."""
    return (
        Code.objects.filter(batch=batch)
        .select_related("line")
        .order_by("item_no")
        .only(
            "token", "serial", "item_no", "batch_id", "line", "line__product_name", "line__specification", "line__gtin"
        )
    )


def check_printable(batch: Batch, actor: Actor) -> int:
    """The number of labels the batch's sheet has; DomainError (409) if it has none to print."""
    count = Code.objects.filter(batch=batch).count() if batch.status in PRINTABLE else 0
    if not count:
        raise DomainError(
            "no_codes",
            _("This batch has no codes yet, so there are no labels to print."),
            status=batch.status,
            allowed=allowed_actions(batch.status, actor.role),
        )
    return count


def batch_labels(batch: Batch) -> Iterator[Label]:
    """One `Label` per code, read `LABELS_DB_CHUNK` rows per round trip."""
    negative = first_negative_result(batch)
    tested_on = local_date(negative.recorded_at).isoformat() if negative else ""
    warehouse = batch.warehouse.name if batch.warehouse else ""
    for code in label_codes(batch).iterator(chunk_size=settings.LABELS_DB_CHUNK):
        code.batch = batch  # for qr_url, without a join per row
        yield Label(
            url=qr_url(code),
            batch_number=batch.number,
            item_no=code.item_no,
            product_name=code.line.product_name,
            specification=code.line.specification,
            warehouse=warehouse,
            negative_test_date=tested_on,
        )


def write_batch_labels(
    batch: Batch, out: BinaryIO, *, total: int, progress: Callable[[int], None] | None = None
) -> int:
    """The batch's label sheet as PDF into `out`; returns the number of labels written."""
    return write_label_pdf(batch_labels(batch), out, total=total, progress=progress)


def file_name(batch: Batch) -> str:
    return f"labels-{batch.number}.pdf"


# --- large sheets: a job built by a Celery task -------------------------------------------

# Why a build failed, said to the person who prints; the traceback goes to the worker's log.
FAILURES = {
    "font_missing": gettext_lazy(
        "The Chinese font the labels need is missing; ask an administrator to install it "
        "(fonts-wqy-microhei), then retry."
    ),
    "storage": gettext_lazy(
        "The label file could not be written (disk full or no permission); retry later, "
        "and call an administrator if it fails again."
    ),
    "database": gettext_lazy("The database is unavailable for the moment; retry later."),
    "timeout": gettext_lazy("Preparing the labels took too long; retry."),
    "worker_lost": gettext_lazy("The background process preparing the labels stopped; retry."),
    "unexpected": gettext_lazy("The labels could not be prepared; retry, and call an administrator if it fails again."),
}
# Failures that another attempt a little later may not meet; the task retries these by itself.
TRANSIENT = {"storage", "database", "timeout"}


class RetryLater(Exception):
    """The build failed for a reason that may pass; the task should try again later."""


def failure_code(error: BaseException) -> str:
    if isinstance(error, FontNotFound):
        return "font_missing"
    if isinstance(error, SoftTimeLimitExceeded):
        return "timeout"
    if isinstance(error, DatabaseError):
        return "database"
    if isinstance(error, OSError):
        return "storage"
    return "unexpected"


def failure_message(code: str) -> str:
    return str(FAILURES.get(code, FAILURES["unexpected"])) if code else ""


def _silent_since(now):
    """The moment before which a job's last sign of life means its worker is gone."""
    return now - timedelta(seconds=settings.LABEL_JOB_STALE_SECONDS)


def _stale() -> Q:
    """Jobs queued or running with no sign of life for LABEL_JOB_STALE_SECONDS: the message
    was lost or the worker died (killed, out of memory, hard time limit)."""
    silent = _silent_since(timezone.now())
    return Q(state__in=[LabelJob.State.PENDING, LabelJob.State.RUNNING]) & (
        Q(progress_at__lt=silent) | Q(progress_at__isnull=True, created_at__lt=silent)
    )


def is_stale(job: LabelJob) -> bool:
    last = job.progress_at or job.created_at
    return job.state in (LabelJob.State.PENDING, LabelJob.State.RUNNING) and last < _silent_since(timezone.now())


def job_state(job: LabelJob) -> tuple[str, str]:
    """(state, error code) as the person sees them: a stale job has failed, whatever its row says."""
    if is_stale(job):
        return LabelJob.State.FAILED, "worker_lost"
    return job.state, job.error_code if job.state == LabelJob.State.FAILED else ""


def can_retry(job: LabelJob) -> bool:
    return job_state(job)[0] == LabelJob.State.FAILED


def _queue_build(job: LabelJob) -> None:
    """The build is written to the outbox in the caller's transaction, with the job's change.
    The task is named, not imported: `warehouse.tasks` calls this module (no import cycle)."""
    outbox.enqueue("warehouse.tasks.build_label_sheet", args=[str(job.pk)])


@transaction.atomic
def label_job_start(*, batch: Batch, actor: Actor, total: int) -> LabelJob:
    """A job for the batch's sheet, written with its task to the outbox in one transaction.
    Asked again while one is queued or running (or when a finished sheet is still on disk), the
    same job answers, so a second click does not build the sheet twice; a failed or stale one
    is retried in place. Two requests at once are serialised on the batch row, so the second
    finds the first one's job."""
    Batch.objects.select_for_update().filter(pk=batch.pk).first()
    existing = LabelJob.objects.filter(batch=batch, total=total).order_by("-created_at").first()
    if existing is not None:
        if existing.state == LabelJob.State.DONE and sheet_on_disk(existing):
            return existing
        if existing.state != LabelJob.State.DONE:
            if can_retry(existing):
                try:
                    return label_job_retry(job=existing, actor=actor)
                except DomainError:  # another request queued it again a moment ago: that job answers
                    existing.refresh_from_db()
            return existing
    job = LabelJob.objects.create(batch=batch, requested_by=actor.user, total=total)
    _queue_build(job)
    return job


@transaction.atomic
def label_job_retry(*, job: LabelJob, actor: Actor) -> LabelJob:
    """A failed job — or one whose worker died (no progress for LABEL_JOB_STALE_SECONDS) — is
    queued again as the same job, so the page that polls it carries on. Anything else is
    DomainError `label_job_not_failed` (409): a job that is queued, running or done is not
    retried (no sheet is built twice). The update is conditional, so two clicks queue it once."""
    retryable = Q(state=LabelJob.State.FAILED) | _stale()
    changed = LabelJob.objects.filter(retryable, pk=job.pk).update(
        state=LabelJob.State.PENDING, done=0, progress_at=timezone.now(), finished_at=None
    )
    job.refresh_from_db()
    if changed != 1:
        raise DomainError(
            "label_job_not_failed",
            _("Only a label job that failed or stopped can be retried."),
            status=job.state,
            allowed=[],
        )
    logger.info("label sheet %s of batch %s queued again by %s", job.pk, job.batch.number, actor.user)
    _queue_build(job)
    return job


def sheet_on_disk(job: LabelJob) -> bool:
    return bool(job.file) and job.file.storage.exists(job.file.name)


def _claim(job_id) -> bool:
    """Take the job for this worker: only a pending one, or one whose worker died (running
    with no progress for LABEL_JOB_STALE_SECONDS). Acts only if exactly one row changed."""
    now = timezone.now()
    claimable = Q(state=LabelJob.State.PENDING) | (Q(state=LabelJob.State.RUNNING) & _stale())
    return (
        LabelJob.objects.filter(claimable, pk=job_id).update(
            state=LabelJob.State.RUNNING, started_at=now, progress_at=now, done=0, attempts=F("attempts") + 1
        )
        == 1
    )


def label_job_build(*, job_id, may_retry: bool = False) -> bool:
    """Build the job's PDF under MEDIA_ROOT/labels/, reporting progress as pages are written.
    Runs once per job: a second delivery of the task finds it claimed and does nothing.
    Returns True if this call built the sheet.

    Whatever goes wrong once the job is claimed, it ends `failed` with a message for the
    person who prints (FAILURES), never `running` with an empty error. A failure that may
    pass (disk, database, time limit) raises RetryLater instead when `may_retry`, the job
    waiting as `pending` for the task's next attempt."""
    if not _claim(job_id):
        return False
    job = None
    part = None
    try:
        job = LabelJob.objects.select_related("batch__warehouse").get(pk=job_id)
        folder = Path(settings.MEDIA_ROOT) / LABEL_DIR
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{LABEL_DIR}/{job.batch.number}-{job.pk}.pdf"
        step = max(job.total // 100, 1)  # at most about a hundred progress writes
        reported = 0

        def progress(done: int) -> None:
            nonlocal reported
            if done - reported >= step or done == job.total:
                LabelJob.objects.filter(pk=job.pk).update(done=done, progress_at=timezone.now())
                reported = done

        # Written beside the final name and renamed when complete: a download never sees half a file.
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as part:
            written = write_batch_labels(job.batch, part, total=job.total, progress=progress)
        os.replace(part.name, folder / Path(name).name)
    except Exception as exc:
        code = failure_code(exc)
        number = job.batch.number if job is not None else "?"
        logger.exception("label sheet %s of batch %s failed (%s)", job_id, number, code)
        if part is not None and os.path.exists(part.name):
            os.unlink(part.name)
        retry = may_retry and code in TRANSIENT
        LabelJob.objects.filter(pk=job_id).update(
            state=LabelJob.State.PENDING if retry else LabelJob.State.FAILED,
            error_code=code,
            error=failure_message(code)[:500],
            progress_at=timezone.now(),
            finished_at=None if retry else timezone.now(),
        )
        if retry:
            raise RetryLater(code) from exc
        return False
    LabelJob.objects.filter(pk=job.pk).update(
        state=LabelJob.State.DONE, done=written, file=name, error_code="", error="", finished_at=timezone.now()
    )
    return True
