"""Celery tasks: thin, they take ids and call the lifecycle (R3)."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from config.reliability.outbox import OutboxTask

from .sms import sms_backend

logger = logging.getLogger(__name__)


@shared_task(name="batches.tasks.complete_rest", base=OutboxTask)
def complete_rest(batch_id: int) -> bool:
    """The per-batch timer, queued through the outbox with eta=rest_until when the batch enters
    resting. Idempotent in itself; the outbox claim also keeps a second delivery from acting."""
    from .lifecycle import complete_rest as complete

    return complete(batch_id)


@shared_task(name="batches.tasks.sweep_due_rests")
def sweep_due_rests(max_chunks: int = 100) -> int:
    """Beat, every REST_SWEEP_SECONDS: moves every batch whose rest_until has passed, in
    bounded chunks. The deadline lives in the database, so a batch due while the broker or
    the worker was down moves on the first sweep after they are back (R3)."""
    from config.reliability.heartbeats import REST_SWEEP, record_completion

    from .lifecycle import complete_due_rests

    moved = 0
    for _chunk in range(max_chunks):
        count = complete_due_rests(limit=settings.REST_SWEEP_BATCH_SIZE)
        moved += count
        if count < settings.REST_SWEEP_BATCH_SIZE:
            break
    if moved:
        logger.info("rest sweep moved %d batches to rest_complete", moved)
    record_completion(REST_SWEEP)  # /healthz and /metrics see that the beat is alive
    return moved


@shared_task(name="batches.tasks.send_alert_email", base=OutboxTask)
def send_alert_email(*, subject: str, body: str, recipients: list[str]) -> None:
    """A quarantine alert. Queued through the outbox: a delivery that finds the row already
    claimed sends nothing, so the regulators get the mail once. A mail server that refuses makes
    the task raise; the outbox sends it again with backoff (OUTBOX_RETRY_SECONDS, doubling) and
    after OUTBOX_MAX_ATTEMPTS keeps the row as `failed` in the admin and the metrics."""
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


@shared_task(name="batches.tasks.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Beat, hourly: deletes `Idempotency-Key` records older than IDEMPOTENCY_TTL_HOURS. A key
    replays its first answer for that long; after it the record (and what it kept) is gone."""
    from datetime import timedelta

    from django.utils import timezone

    from .models import IdempotencyRecord

    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    deleted, _by_model = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("deleted %d idempotency records older than %s", deleted, cutoff.isoformat())
    return deleted


@shared_task(name="batches.tasks.send_notice_sms", base=OutboxTask)
def send_notice_sms(*, phone: str, text: str) -> None:
    """A serious notice (recall, seal, quarantine) to a merchant's phone, through SMS_BACKEND,
    once after the commit; a gateway that refuses makes the task raise and the outbox retries."""
    sms_backend().send(phone, text)


@shared_task(name="batches.tasks.send_incident_sms", base=OutboxTask)
def send_incident_sms(*, phone: str, text: str) -> None:
    """One incident message to a buyer, through SMS_BACKEND. Queued through the outbox: sent
    once after the commit; a gateway that refuses makes the task raise and the outbox retries."""
    sms_backend().send(phone, text)
