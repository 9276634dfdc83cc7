"""The transactional outbox: nothing a service starts is lost when the broker is away.

A service calls `enqueue(task, args=..., eta=...)` inside its transaction; the row commits or
rolls back with the change that needs it. After the commit a fast path tries to hand the row to
the broker at once; whatever it could not hand over, the relay (`manage.py outbox_relay`) does
later, with backoff. Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so several
relays (and the fast path) never publish the same row at the same time; on SQLite the
IMMEDIATE transactions serialise them.

The broker may still deliver a task twice (a relay that died between publishing and marking the
row, acks_late redelivery, a republished row). Tasks built on `OutboxTask` therefore claim
their row with a conditional UPDATE before they act, and act only if they won it: the work is
done once. A task that raises is sent again by the relay after a backoff (OUTBOX_RETRY_SECONDS,
doubling); after OUTBOX_MAX_ATTEMPTS the row is kept as `failed` (admin, metrics), never dropped.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from functools import partial

from celery import Task
from celery.exceptions import Retry
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from config.celery import app as celery_app

from .models import OutboxMessage

logger = logging.getLogger(__name__)
State = OutboxMessage.State


def enqueue(task: Task | str, *, args=(), kwargs=None, eta=None) -> OutboxMessage:
    """Record `task(*args, **kwargs)` (at `eta`) in the current transaction; it is handed to the
    broker after the commit (fast path) or by the relay. Arguments must be JSON. The task may be
    named instead of imported, so a service need not import the tasks module that calls it back
    (docs/architecture.md: no import cycles); an unknown name fails here, not at the relay."""
    task_name = task if isinstance(task, str) else task.name
    if task_name not in celery_app.tasks:
        raise LookupError(f"outbox: no Celery task is registered as {task_name!r}")
    message = OutboxMessage.objects.create(task_name=task_name, args=list(args), kwargs=dict(kwargs or {}), eta=eta)
    if settings.OUTBOX_PUBLISH_ON_COMMIT:
        transaction.on_commit(partial(publish_now, message.pk))
    return message


def publish_now(message_id) -> None:
    """The fast path, run after the commit: never raises, so a committed action keeps its 2xx
    answer whatever the broker does; what it could not hand over stays for the relay."""
    try:
        outcome = relay_due(only=message_id)
    except Exception:
        logger.exception("outbox: handing %s to the broker after commit failed; the relay will", message_id)
        return
    if outcome.broker_error:
        logger.warning("outbox: broker unavailable (%s); %s waits for the relay", outcome.broker_error, message_id)


# --- the relay ----------------------------------------------------------------------------


@dataclass
class RelayPass:
    """What one pass of the relay did."""

    sent: int = 0
    retrying: int = 0  # a publish failed for the message itself; tried again after a backoff
    failed: int = 0  # given up after OUTBOX_MAX_ATTEMPTS
    claimed: int = 0
    broker_error: str = ""  # the broker could not be reached: the pass stopped, nothing was charged


def backoff(attempts: int) -> timedelta:
    """Seconds before try number `attempts + 1`: OUTBOX_RETRY_SECONDS doubling, capped."""
    seconds = settings.OUTBOX_RETRY_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.OUTBOX_RETRY_MAX_SECONDS))


def relay_due(*, limit: int | None = None, only=None, now=None) -> RelayPass:
    """One pass: claim up to `limit` due rows and hand each to the broker.

    Due are pending rows whose `next_attempt_at` has come, and sent or running rows that have
    not finished long after they should have (the broker may have lost them: Redis without
    persistence, a worker killed with the message). Those are sent again — the task's own claim
    makes that safe — and count as an attempt. `only` restricts the pass to one pending row
    (the fast path after commit)."""
    now = now or timezone.now()
    outcome = RelayPass()
    rows = OutboxMessage.objects.select_for_update(skip_locked=True)
    if only is not None:
        rows = rows.filter(pk=only, state=State.PENDING)
    else:
        rows = rows.filter(state__in=[State.PENDING, State.SENT, State.RUNNING], next_attempt_at__lte=now)
    with transaction.atomic():
        claimed = list(rows.order_by("next_attempt_at", "created_at")[: limit or settings.OUTBOX_RELAY_BATCH])
        outcome.claimed = len(claimed)
        if not claimed:
            return outcome
        with celery_app.connection_for_write(connect_timeout=settings.OUTBOX_BROKER_TIMEOUT) as connection:
            if not celery_app.conf.task_always_eager:
                try:
                    # One try, bounded: kombu would otherwise retry a refused connection for ever,
                    # and a request must not wait for a broker that is away.
                    connection.ensure_connection(max_retries=0, timeout=settings.OUTBOX_BROKER_TIMEOUT)
                except (BrokerOperationalError, OSError, *connection.connection_errors) as exc:
                    outcome.broker_error = _describe(exc)
                    return outcome
            for message in claimed:
                again = message.state != State.PENDING
                if again and message.attempts + 1 >= settings.OUTBOX_MAX_ATTEMPTS:
                    _give_up(message, f"not finished after {message.attempts + 1} deliveries", now)
                    outcome.failed += 1
                    continue
                if again:  # a delivery that never finished counts as an attempt
                    message.attempts += 1
                    OutboxMessage.objects.filter(pk=message.pk).update(attempts=message.attempts)
                try:
                    with transaction.atomic():  # an eager task's writes roll back alone if it fails
                        _publish(message, connection)
                except (BrokerOperationalError, OSError, *connection.connection_errors) as exc:
                    outcome.broker_error = _describe(exc)
                    break
                except Exception as exc:
                    if _charge(message, exc, now):
                        outcome.retrying += 1
                    else:
                        outcome.failed += 1
                    continue
                ready = max(message.eta or now, now)
                # Unchanged since the claim: a task run in-process may already have finished or failed it.
                OutboxMessage.objects.filter(pk=message.pk, state=message.state, attempts=message.attempts).update(
                    state=State.SENT,
                    sent_at=now,
                    next_attempt_at=ready + timedelta(seconds=settings.OUTBOX_REDELIVER_SECONDS),
                )
                outcome.sent += 1
    return outcome


def _publish(message: OutboxMessage, connection) -> None:
    task = celery_app.tasks[message.task_name]
    if celery_app.conf.task_always_eager:
        # In-process (tests, CELERY_TASK_ALWAYS_EAGER): the task's own failure is recorded on its
        # row by OutboxTask, not mistaken for a broker that is away.
        task.apply(args=message.args, kwargs=message.kwargs, task_id=str(message.pk), throw=False)
        return
    # retry=False: a broker that is away fails at once instead of holding the request or the
    # relay in kombu's retry loop; the row simply stays for the next pass.
    task.apply_async(
        args=message.args,
        kwargs=message.kwargs,
        eta=message.eta,
        task_id=str(message.pk),
        connection=connection,
        retry=False,
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _charge(message: OutboxMessage, exc: BaseException, now) -> bool:
    """A publish failed because of the message: count it; back off or give up. True if retrying."""
    attempts = message.attempts + 1
    if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        _give_up(message, _describe(exc), now)
        return False
    logger.warning("outbox: publishing %s (%s) failed: %s", message.pk, message.task_name, _describe(exc))
    OutboxMessage.objects.filter(pk=message.pk).update(
        attempts=attempts, last_error=_describe(exc), next_attempt_at=now + backoff(attempts)
    )
    return True


def _give_up(message: OutboxMessage, error: str, now) -> None:
    logger.error("outbox: giving up on %s (%s): %s", message.pk, message.task_name, error)
    OutboxMessage.objects.filter(pk=message.pk).exclude(state=State.DONE).update(
        state=State.FAILED, attempts=F("attempts") + 1, last_error=error[:1000], finished_at=now
    )


def requeue(queryset) -> int:
    """A person sends failed rows again (admin action): a fresh count of attempts."""
    return queryset.filter(state=State.FAILED).update(
        state=State.PENDING, attempts=0, next_attempt_at=timezone.now(), finished_at=None
    )


def purge_finished(*, now=None) -> int:
    """Done rows older than OUTBOX_KEEP_DAYS are deleted; failed ones are kept for a person."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.OUTBOX_KEEP_DAYS)
    deleted, _by_model = OutboxMessage.objects.filter(state=State.DONE, finished_at__lt=cutoff).delete()
    return deleted


# --- the task's side: claim the row, act once ---------------------------------------------


class Claim(Enum):
    NOT_OUTBOX = "not_outbox"  # called directly or by beat: just run
    WON = "won"
    TAKEN = "taken"  # done, running elsewhere, or failed: do nothing


def claim(message_id, *, redelivered: bool = False) -> Claim:
    """Take the row for this delivery with a conditional UPDATE: a pending or sent row, or a
    running one whose worker must have died — running longer than the task time limit, or at
    once when the broker redelivers the message (it gives back what a stopped or killed worker
    had not acknowledged), so a deploy's restart does not leave the task waiting for the relay."""
    try:
        message_id = uuid.UUID(str(message_id))
    except ValueError:
        return Claim.NOT_OUTBOX
    now = timezone.now()
    limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    claimable = Q(state__in=[State.PENDING, State.SENT]) | Q(state=State.RUNNING, started_at__lt=now - limit)
    if redelivered:
        claimable |= Q(state=State.RUNNING)
    won = OutboxMessage.objects.filter(claimable, pk=message_id).update(
        state=State.RUNNING,
        started_at=now,
        next_attempt_at=now + limit + timedelta(seconds=settings.OUTBOX_REDELIVER_SECONDS),
    )
    if won:
        return Claim.WON
    return Claim.TAKEN if OutboxMessage.objects.filter(pk=message_id).exists() else Claim.NOT_OUTBOX


class OutboxTask(Task):
    """A task queued through the outbox: its Celery id is its row's id. It runs only if it wins
    the row (a second delivery finds it taken and does nothing) and marks it done when it
    returns. When it raises, the row is retried by the relay with backoff, then kept as failed;
    a task that asks Celery for a retry itself hands the row back to `sent`."""

    def __call__(self, *args, **kwargs):
        message_id = self.request.id
        redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
        won = claim(message_id, redelivered=redelivered) if message_id else Claim.NOT_OUTBOX
        if won is Claim.TAKEN:
            logger.info("outbox: %s[%s] already taken; this delivery does nothing", self.name, message_id)
            return None
        try:
            result = super().__call__(*args, **kwargs)
        except Retry as retry:
            if won is Claim.WON:
                _hand_back(message_id, retry)
            raise
        except Exception as exc:
            if won is Claim.WON:
                _task_failed(message_id, exc)
            raise
        if won is Claim.WON:
            OutboxMessage.objects.filter(pk=message_id, state=State.RUNNING).update(
                state=State.DONE, finished_at=timezone.now(), last_error=""
            )
        return result


def _task_failed(message_id, exc: BaseException) -> None:
    """The task raised: the row goes back to `pending` for the relay to send again after a
    backoff, or, after OUTBOX_MAX_ATTEMPTS, stays `failed` for a person (admin, metrics). The
    retries live in the database, so they survive a broker or worker restart."""
    now = timezone.now()
    message = OutboxMessage.objects.filter(pk=message_id, state=State.RUNNING).first()
    if message is None:
        return
    attempts = message.attempts + 1
    if attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        logger.error("outbox: %s[%s] failed for the last time: %s", message.task_name, message_id, _describe(exc))
        OutboxMessage.objects.filter(pk=message_id, state=State.RUNNING).update(
            state=State.FAILED, attempts=attempts, last_error=_describe(exc), finished_at=now
        )
        return
    logger.warning(
        "outbox: %s[%s] failed (attempt %d), retrying after a backoff: %s",
        message.task_name,
        message_id,
        attempts,
        _describe(exc),
    )
    OutboxMessage.objects.filter(pk=message_id, state=State.RUNNING).update(
        state=State.PENDING, attempts=attempts, last_error=_describe(exc), next_attempt_at=now + backoff(attempts)
    )


def _hand_back(message_id, retry: Retry) -> None:
    """The task will be retried by Celery: the row goes back to `sent` (the retry claims it
    again). Should Celery's retry message be lost, the relay sends the row again later."""
    now = timezone.now()
    when = retry.when
    if isinstance(when, (int, float)):
        when = now + timedelta(seconds=when)
    ready = max(when, now) if when is not None and hasattr(when, "tzinfo") else now
    OutboxMessage.objects.filter(pk=message_id, state=State.RUNNING).update(
        state=State.SENT,
        attempts=F("attempts") + 1,
        last_error=_describe(retry.exc or retry)[:1000],
        next_attempt_at=ready + timedelta(seconds=settings.OUTBOX_REDELIVER_SECONDS),
    )


# --- what the health check and the metrics read -------------------------------------------


@dataclass(frozen=True)
class Backlog:
    pending: int  # not handed to the broker yet (waiting for the relay, or backing off)
    failed: int
    oldest_due_seconds: float | None  # how long the oldest due pending row has waited

    @property
    def lagging(self) -> bool:
        return self.oldest_due_seconds is not None and self.oldest_due_seconds > settings.OUTBOX_MAX_LAG_SECONDS


def backlog(*, now=None) -> Backlog:
    from django.db.models import Count, Min

    now = now or timezone.now()
    counts = OutboxMessage.objects.filter(state__in=[State.PENDING, State.FAILED]).aggregate(
        pending=Count("pk", filter=Q(state=State.PENDING)),
        failed=Count("pk", filter=Q(state=State.FAILED)),
        oldest=Min("created_at", filter=Q(state=State.PENDING, next_attempt_at__lte=now)),
    )
    oldest = counts["oldest"]
    return Backlog(counts["pending"], counts["failed"], max((now - oldest).total_seconds(), 0.0) if oldest else None)
