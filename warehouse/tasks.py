"""Celery tasks of the warehouse: thin, they take ids and call services."""

from celery import shared_task


@shared_task(name="warehouse.tasks.build_label_sheet")
def build_label_sheet(job_id: str) -> bool:
    """Builds a large label sheet (`LabelJob`); queued after the request's commit."""
    from .label_sheets import label_job_build

    return label_job_build(job_id=job_id)
