"""The batch lifecycle of SPEC §3: the table of allowed transitions and the one function
that moves a batch.

`transition()` locks the row, re-checks the state and the guards, changes the status with a
conditional UPDATE (`... WHERE status = <expected>`, acting only if one row changed, so it is
race-safe on PostgreSQL and on SQLite, where SELECT ... FOR UPDATE does nothing) and writes the
event (R6) in the same transaction (R7). `complete_due_rests()` is its bulk twin for the
rest sweep (R3): same table entry, same event writer, a constant number of queries per chunk.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.replica import pin_to_primary
from warehouse.models import ZoneKind

from .actions import REGISTRY, Action, ActionSpec, Style, declared, register, spec_of
from .actors import SYSTEM, Actor
from .errors import DomainError
from .models import Batch, Event, Role
from .models import Status as S
from .notices import tell_of_event, tell_rests_completed
from .seals import sealed_batch_ids, sealed_error

# From `approved` on, until an end state, a regulator may recall.
RECALLABLE = {
    S.APPROVED,
    S.DISCREPANCY,
    S.PRE_STORAGE,
    S.RESTING,
    S.REST_COMPLETE,
    S.QUARANTINED,
    S.STORED,
    S.CODED,
    S.RELEASED,
}

# The table of transitions: every declared action (batches/actions.py). The people's actions
# are declared on their services (batches/services.py); the timer's is declared here.
TRANSITIONS: dict[str, ActionSpec] = REGISTRY

# R1: only the timer ends a rest; no person's role is listed here.
register(
    ActionSpec(
        name=Action.COMPLETE_REST,
        sources=frozenset({S.RESTING}),
        targets=frozenset({S.REST_COMPLETE}),
        roles=frozenset({Role.SYSTEM}),
        label=gettext_lazy("Rest period complete"),
        style=Style.NONE,
        epcis=("OBSERVE", "holding", ("disp", "rest_complete")),
    )
)


class TargetNotListed(RuntimeError):
    """A service decided a status its action's declaration does not list: a bug, never stored."""


# Where in the warehouse a batch in each status physically is (for events and occupancy).
ZONE_OF_STATUS = {
    S.DISCREPANCY: ZoneKind.PRE_STORAGE,
    S.PRE_STORAGE: ZoneKind.PRE_STORAGE,
    S.RESTING: ZoneKind.RESTING,
    S.REST_COMPLETE: ZoneKind.RESTING,
    S.QUARANTINED: ZoneKind.RESTING,
    S.STORED: ZoneKind.STORAGE,
    S.CODED: ZoneKind.STORAGE,
}


def allowed_actions(status: str, role: str) -> list[str]:
    """The actions the role may take on a batch in this status, in table order."""
    return [spec.name.value for spec in declared() if status in spec.sources and role in spec.roles]


def batch_allowed_actions(batch: Batch, role: str, now=None) -> list[str]:
    """What the role may do with this batch now: read from its current status, so a batch
    resting past rest_until offers move_to_storage (R1, see `Batch.current_status`)."""
    return allowed_actions(batch.current_status(now), role)


@dataclass
class Change:
    """What an action decides under the lock: a status (None keeps the table's target or the
    current status), other batch fields, and details for the event."""

    status: str | None = None
    fields: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)


def invalid_transition(batch: Batch, action: str, role: str) -> DomainError:
    return DomainError(
        "invalid_transition",
        _("This action is not possible while the batch is “%(status)s”.") % {"status": S(batch.status).label},
        status=batch.status,
        allowed=allowed_actions(batch.status, role),
    )


def record_event(
    *,
    batch: Batch,
    action: str,
    actor: Actor,
    status_before: str,
    status_after: str,
    details: dict | None = None,
    at=None,
) -> Event:
    zone = ZONE_OF_STATUS.get(status_after) or ZONE_OF_STATUS.get(status_before) or ""
    pin_to_primary(actor.user_id)  # whoever changed something reads it back fresh (config/replica.py)
    event = Event(
        batch=batch,
        action=action,
        status_before=status_before,
        status_after=status_after,
        actor=actor.user,
        role=actor.role,
        at=at or timezone.now(),
        warehouse_id=batch.warehouse_id,
        zone=zone,
        details=details or {},
    )
    event.save(force_insert=True)  # one INSERT; its post_save tells the public page (warehouse.public)
    tell_of_event(batch=batch, action=action, status_after=status_after, details=event.details)
    return event


def transition(
    *,
    batch: Batch | int,
    action: str,
    actor: Actor,
    apply: Callable[[Batch], Change | None] | None = None,
    details: dict | None = None,
    now=None,
) -> Batch:
    """Take `action` on the batch, or raise DomainError (409).

    Under the row lock: the status must be one the table allows for the action, then
    `apply(batch)` runs the action's guards and record writes and may decide the new status,
    which must be one of the action's declared targets (else TargetNotListed, nothing stored).
    The status changes only if the row still holds the status read (R7), and the event is
    written in the same transaction (R6). The caller has checked the role (403) already.
    """
    spec = spec_of(action)
    now = now or timezone.now()
    batch_id = batch.pk if isinstance(batch, Batch) else batch
    with transaction.atomic():
        locked = Batch.objects.select_for_update(of=("self",)).select_related("market", "warehouse").get(pk=batch_id)
        if action != "complete_rest" and locked.rest_is_over(now):
            complete_rest_first(locked, action=action, now=now)
        before = locked.status
        if before not in spec.sources:
            raise invalid_transition(locked, action, actor.role)
        if spec.stopped_by_seal and sealed_batch_ids([locked.pk]):
            raise sealed_error(locked, allowed=allowed_actions(before, actor.role))
        change = (apply(locked) if apply else None) or Change()
        after = change.status or spec.target or before
        if not spec.allows_target(before, after):
            raise TargetNotListed(f"{action} may not lead from {before} to {after}")
        fields = dict(change.fields, status=after, updated_at=now)
        if after != before:
            fields["status_changed_at"] = now
        if Batch.objects.filter(pk=locked.pk, status=before).update(**fields) != 1:
            raise invalid_transition(locked, action, actor.role)
        for name, value in fields.items():
            setattr(locked, name, value)
        record_event(
            batch=locked,
            action=action,
            actor=actor,
            status_before=before,
            status_after=after,
            details={**(details or {}), **change.details},
            at=now,
        )
    return locked


def complete_rest_first(locked: Batch, *, action: str, now) -> None:
    """R1, time is the truth: an action on a batch whose rest_until has passed first ends the
    rest, with the same `complete_rest` event by the system as the timer's, in the caller's
    transaction and under its row lock. A stopped worker never blocks the crew, and the timer
    or sweep arriving later finds the batch no longer resting and writes nothing."""
    spec = spec_of(Action.COMPLETE_REST)
    (source,) = spec.sources
    if (
        Batch.objects.filter(pk=locked.pk, status=source).update(
            status=spec.target, status_changed_at=now, updated_at=now
        )
        != 1
    ):
        raise invalid_transition(locked, action, SYSTEM.role)
    record_event(
        batch=locked,
        action="complete_rest",
        actor=SYSTEM,
        status_before=source,
        status_after=spec.target,
        details={"rest_until": timezone.localtime(locked.rest_until).isoformat(), "by": action},
        at=now,
    )
    locked.status, locked.status_changed_at, locked.updated_at = spec.target, now, now


def complete_rest(batch_id: int, *, now=None) -> bool:
    """The timer for one batch (R1, R3): resting → rest_complete, only at or after rest_until.
    Fired early, late or twice, it changes nothing it should not. Returns True if it moved."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or batch.status != S.RESTING or batch.rest_until is None or batch.rest_until > now:
            return False
        transition(
            batch=batch,
            action="complete_rest",
            actor=SYSTEM,
            now=now,
            details={"rest_until": timezone.localtime(batch.rest_until).isoformat()},
        )
    return True


def complete_due_rests(*, now=None, limit: int = 1000) -> int:
    """One bounded chunk of the rest sweep (R3): claims up to `limit` due batches and moves
    them resting → rest_complete with their events, in three queries whatever the size.

    Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL (two sweepers never take the
    same batch) and by the IMMEDIATE transaction on SQLite; the UPDATE is still conditional on
    `status = resting`, so a batch the per-batch timer moved meanwhile is left alone.
    """
    now = now or timezone.now()
    spec = spec_of(Action.COMPLETE_REST)
    (source,) = spec.sources
    with transaction.atomic():
        due = list(
            Batch.objects.select_for_update(skip_locked=True)
            .filter(status=source, rest_until__lte=now)
            .order_by("rest_until", "id")
            .values_list("id", "warehouse_id", "rest_until", "number")[:limit]
        )
        if not due:
            return 0
        ids = [row[0] for row in due]
        moved = Batch.objects.filter(pk__in=ids, status=source).update(
            status=spec.target, status_changed_at=now, updated_at=now
        )
        if moved != len(ids):  # cannot happen under the claim; refuse to write wrong events
            raise RuntimeError("rest sweep lost its claim")
        Event.objects.bulk_create(
            Event(
                batch_id=batch_id,
                action="complete_rest",
                status_before=source,
                status_after=spec.target,
                actor=None,
                role=Role.SYSTEM,
                at=now,
                warehouse_id=warehouse_id,
                zone=ZONE_OF_STATUS[spec.target],
                details={"rest_until": timezone.localtime(rest_until).isoformat(), "by": "sweep"},
            )
            for batch_id, warehouse_id, rest_until, _number in due
        )
        tell_rests_completed([(batch_id, number, warehouse_id) for batch_id, warehouse_id, _at, number in due])
    return len(due)
