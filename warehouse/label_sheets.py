"""Printable label sheets for a coded batch (issue 3): one QR label per code.

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

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from batches.actors import Actor
from batches.errors import DomainError
from batches.labels import Label, write_label_pdf
from batches.lifecycle import allowed_actions
from batches.models import Batch, Code, Status
from reliability import outbox

from .models import LabelJob
from .selectors import first_negative_result, local_date, qr_url

logger = logging.getLogger(__name__)

# Labels are printed for goods that are coded; after release the crew may still reprint one.
PRINTABLE = {Status.CODED, Status.RELEASED}
LABEL_DIR = "labels"


def label_codes(batch: Batch):
    """The batch's codes in serial order, with only the columns a label needs."""
    return (Code.objects.filter(batch=batch).select_related("line").order_by("serial")
            .only("token", "serial", "batch_id", "line", "line__product_name", "line__specification", "line__gtin"))


def check_printable(batch: Batch, actor: Actor) -> int:
    """The number of labels the batch's sheet has; DomainError (409) if it has none to print."""
    count = Code.objects.filter(batch=batch).count() if batch.status in PRINTABLE else 0
    if not count:
        raise DomainError("no_codes", _("本批次尚未赋码，没有可打印的标签。"), status=batch.status,
                          allowed=allowed_actions(batch.status, actor.role))
    return count


def batch_labels(batch: Batch) -> Iterator[Label]:
    """One `Label` per code, read `LABELS_DB_CHUNK` rows per round trip."""
    negative = first_negative_result(batch)
    tested_on = local_date(negative.recorded_at).isoformat() if negative else ""
    warehouse = batch.warehouse.name if batch.warehouse else ""
    for code in label_codes(batch).iterator(chunk_size=settings.LABELS_DB_CHUNK):
        code.batch = batch  # for qr_url, without a join per row
        yield Label(url=qr_url(code), batch_number=batch.number, serial=code.serial,
                    product_name=code.line.product_name, specification=code.line.specification,
                    warehouse=warehouse, negative_test_date=tested_on)


def write_batch_labels(batch: Batch, out: BinaryIO, *, total: int,
                       progress: Callable[[int], None] | None = None) -> int:
    """The batch's label sheet as PDF into `out`; returns the number of labels written."""
    return write_label_pdf(batch_labels(batch), out, total=total, progress=progress)


def file_name(batch: Batch) -> str:
    return f"labels-{batch.number}.pdf"


# --- large sheets: a job built by a Celery task -------------------------------------------

@transaction.atomic
def label_job_start(*, batch: Batch, actor: Actor, total: int) -> LabelJob:
    """A job for the batch's sheet, written with its task to the outbox in one transaction.
    Asked again while one is queued or running (or when a finished sheet is still on disk), the
    same job answers, so a second click does not build the sheet twice."""
    stale = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    existing = (LabelJob.objects.filter(batch=batch, total=total)
                .filter(Q(state__in=[LabelJob.State.PENDING, LabelJob.State.RUNNING], created_at__gte=stale)
                        | Q(state=LabelJob.State.DONE))
                .order_by("-created_at").first())
    if existing and (existing.state != LabelJob.State.DONE or sheet_on_disk(existing)):
        return existing
    from . import tasks

    job = LabelJob.objects.create(batch=batch, requested_by=actor.user, total=total)
    outbox.enqueue(tasks.build_label_sheet, args=[str(job.pk)])
    return job


def sheet_on_disk(job: LabelJob) -> bool:
    return bool(job.file) and job.file.storage.exists(job.file.name)


def _claim(job_id) -> bool:
    """Take the job for this worker: only a pending one, or one whose worker died (running
    longer than the task time limit). Acts only if exactly one row changed."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    claimable = Q(state=LabelJob.State.PENDING) | Q(state=LabelJob.State.RUNNING, started_at__lt=stale)
    return LabelJob.objects.filter(claimable, pk=job_id).update(state=LabelJob.State.RUNNING, started_at=now,
                                                                done=0) == 1


def label_job_build(*, job_id) -> bool:
    """Build the job's PDF under MEDIA_ROOT/labels/, reporting progress as pages are written.
    Runs once per job: a second delivery of the task finds it claimed and does nothing.
    Returns True if this call built the sheet."""
    if not _claim(job_id):
        return False
    job = LabelJob.objects.select_related("batch__warehouse").get(pk=job_id)
    folder = Path(settings.MEDIA_ROOT) / LABEL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{LABEL_DIR}/{job.batch.number}-{job.pk}.pdf"
    step = max(job.total // 100, 1)  # at most about a hundred progress writes
    reported = 0

    def progress(done: int) -> None:
        nonlocal reported
        if done - reported >= step or done == job.total:
            LabelJob.objects.filter(pk=job.pk).update(done=done)
            reported = done

    part = None
    try:
        # Written beside the final name and renamed when complete: a download never sees half a file.
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as part:
            written = write_batch_labels(job.batch, part, total=job.total, progress=progress)
        os.replace(part.name, folder / Path(name).name)
    except Exception as exc:
        logger.exception("label sheet %s of batch %s failed", job.pk, job.batch.number)
        if part is not None and os.path.exists(part.name):
            os.unlink(part.name)
        LabelJob.objects.filter(pk=job.pk).update(state=LabelJob.State.FAILED, error=str(exc)[:500],
                                                  finished_at=timezone.now())
        return False
    LabelJob.objects.filter(pk=job.pk).update(state=LabelJob.State.DONE, done=written, file=name,
                                              finished_at=timezone.now())
    return True
