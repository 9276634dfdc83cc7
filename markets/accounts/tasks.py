"""Celery tasks of the sign-in app: thin, they call the token services."""

import logging

from celery import shared_task

from .tokens import tokens_purge_expired

logger = logging.getLogger(__name__)


@shared_task(name="markets.accounts.tasks.purge_expired_tokens")
def purge_expired_tokens() -> int:
    """Beat, hourly: deletes the rows of expired API tokens."""
    purged = tokens_purge_expired()
    if purged:
        logger.info("purged %d expired API tokens", purged)
    return purged
