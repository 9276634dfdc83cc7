"""Celery tasks of the warehouse: thin, they take ids and call services."""

from celery import shared_task

from reliability.outbox import OutboxTask


@shared_task(name="warehouse.tasks.build_label_sheet", base=OutboxTask)
def build_label_sheet(job_id: str) -> bool:
    """Builds a large label sheet (`LabelJob`); queued through the outbox with the job."""
    from .label_sheets import label_job_build

    return label_job_build(job_id=job_id)
