"""Periodic upkeep of the outbox."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="reliability.tasks.purge_outbox")
def purge_outbox() -> int:
    """Beat, hourly: deletes done rows older than OUTBOX_KEEP_DAYS (failed ones stay)."""
    from .outbox import purge_finished

    deleted = purge_finished()
    if deleted:
        logger.info("deleted %d finished outbox rows", deleted)
    return deleted
