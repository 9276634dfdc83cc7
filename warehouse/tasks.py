"""Celery tasks of the warehouse: thin, they take ids and call services."""

from celery import shared_task
from django.conf import settings

from config.reliability.outbox import OutboxTask

from .label_sheets import RetryLater, label_job_build


@shared_task(bind=True, name="warehouse.tasks.build_label_sheet", base=OutboxTask, max_retries=None)
def build_label_sheet(self, job_id: str) -> bool:
    """Builds a large label sheet (`LabelJob`); queued through the outbox with the job. A failure
    that may pass (disk, database, time limit) is retried LABEL_JOB_AUTO_RETRIES times, a
    minute apart; then, or for any other failure, the job ends `failed` with its reason."""
    try:
        return label_job_build(job_id=job_id, may_retry=self.request.retries < settings.LABEL_JOB_AUTO_RETRIES)
    except RetryLater as later:
        raise self.retry(exc=later, countdown=settings.LABEL_JOB_RETRY_SECONDS) from later
