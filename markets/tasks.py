"""Celery tasks of the markets app: thin, they call services."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="markets.tasks.anonymise_buyers")
def anonymise_buyers() -> int:
    """Beat, daily: buyers of sales older than BUYER_DATA_RETENTION_DAYS are anonymised."""
    from .retention import buyers_anonymise

    result = buyers_anonymise()
    logger.info("anonymised the buyers of %d sales sold before %s", result.anonymised, result.cutoff.isoformat())
    return result.anonymised
