"""Incident mode (README "Incident mode"): a positive result opens an incident on its batch;
the regulator sees the co-located lots, seals any of them in one action, lifts seals, lists
the buyers of what was already sold, tells merchants and buyers, and prints the report.

Co-located lots are computed from the events, the record of where each batch was (R6):
- *shared the resting zone*: another batch of the same warehouse whose time in the resting zone
  (from `move_to_resting` until it left resting / rest_complete) overlaps the positive batch's;
- *arrived the same day*: another batch whose arrival check at the same warehouse was on the
  same day (Asia/Shanghai) as the positive batch's.
A regulator sees only the lots within their reach (a warehouse may serve two districts).
"""

from collections import defaultdict
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.reliability import outbox
from markets.models import Merchant, SaleItem

from .actions import Capability, require
from .actors import SYSTEM, Actor, visible_batches
from .errors import DomainError, InputError
from .lifecycle import record_event
from .models import (
    Batch,
    Event,
    Incident,
    IncidentContact,
    IncidentState,
    Notification,
    Seal,
    Status,
)

RESTING = {Status.RESTING, Status.REST_COMPLETE}
SHARED_REST, SAME_DAY = "shared_rest", "same_day_arrival"
REASON_LABELS = {SHARED_REST: gettext_lazy("shared the resting zone"), SAME_DAY: gettext_lazy("arrived the same day")}


# --- opening ---------------------------------------------------------------------------------


def incident_open(*, batch: Batch, sample_no: str, report_no: str, now=None) -> Incident:
    """A positive result of the current rest period opens the batch's incident (once per cycle),
    with an `incident_open` event. Called right after the result's transition."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Batch.objects.select_for_update(of=("self",)).get(pk=batch.pk)
        existing = Incident.objects.filter(batch=locked, cycle=locked.cycle).first()
        if existing is not None:
            return existing
        incident = Incident.objects.create(
            batch=locked, cycle=locked.cycle, sample_no=sample_no, report_no=report_no or "", opened_at=now
        )
        record_event(
            batch=locked,
            action="incident_open",
            actor=SYSTEM,
            status_before=locked.status,
            status_after=locked.status,
            details={"incident": incident.pk, "sample_no": sample_no, "report_no": report_no},
            at=now,
        )
    return incident


# --- scope -----------------------------------------------------------------------------------


def visible_incidents(actor: Actor | None):
    """Incidents of the batches the actor sees (404 outside); the role is checked by the caller."""
    return Incident.objects.filter(batch__in=visible_batches(actor)).select_related(
        "batch", "batch__warehouse", "batch__market", "batch__merchant"
    )


# --- co-located lots -------------------------------------------------------------------------


def rest_periods(events, now) -> dict[int, list[tuple[datetime, datetime]]]:
    """{batch_id: [(entered, left)]} from events ordered by batch and id: a batch is in the
    resting zone from an event that puts it there until one that takes it out (or now)."""
    periods: dict[int, list] = defaultdict(list)
    entered: dict[int, datetime] = {}
    for event in events:
        inside_before = event.status_before in RESTING
        inside_after = event.status_after in RESTING
        if inside_after and not inside_before:
            entered[event.batch_id] = event.at
        elif inside_before and not inside_after and event.batch_id in entered:
            periods[event.batch_id].append((entered.pop(event.batch_id), event.at))
    for batch_id, start in entered.items():
        periods[batch_id].append((start, now))
    return periods


def _overlaps(a: list, b: list) -> bool:
    return any(start1 < end2 and start2 < end1 for start1, end1 in a for start2, end2 in b)


def colocated_lots(incident: Incident, actor: Actor, *, now=None) -> list[dict]:
    """The lots that were beside the positive batch, within the actor's reach, with why."""
    now = now or timezone.now()
    batch = incident.batch
    if batch.warehouse_id is None:
        return []
    events = list(
        Event.objects.filter(warehouse_id=batch.warehouse_id)
        .filter(Q(status_before__in=RESTING) | Q(status_after__in=RESTING))
        .only("batch_id", "status_before", "status_after", "at")
        .order_by("batch_id", "id")
    )
    periods = rest_periods(events, now)
    mine = periods.get(batch.pk, [])
    reasons: dict[int, set] = defaultdict(set)
    for other, theirs in periods.items():
        if other != batch.pk and _overlaps(mine, theirs):
            reasons[other].add(SHARED_REST)
    arrivals = Event.objects.filter(batch=batch, action="arrive").values_list("at", flat=True)
    days = {timezone.localdate(at) for at in arrivals}
    if days:
        for other_id, at in (
            Event.objects.filter(warehouse_id=batch.warehouse_id, action="arrive")
            .exclude(batch=batch)
            .values_list("batch_id", "at")
        ):
            if timezone.localdate(at) in days:
                reasons[other_id].add(SAME_DAY)
    lots = (
        visible_batches(actor)
        .filter(pk__in=list(reasons))
        .select_related("market", "merchant", "warehouse")
        .order_by("number")
    )
    sealed = set(Seal.objects.filter(batch__in=lots, lifted_at__isnull=True).values_list("batch_id", flat=True))
    return [
        {
            "batch": lot,
            "reasons": sorted(reasons[lot.pk]),
            "sealed": lot.pk in sealed,
            "periods": periods.get(lot.pk, []),
        }
        for lot in lots
    ]


# --- seals -----------------------------------------------------------------------------------


def _lots_by_number(incident: Incident, actor: Actor, numbers: list[str]) -> list[Batch]:
    """The batches named, each the incident's own batch or one of its co-located lots within
    reach; anything else is bad input (400), answered alike whether it exists or not."""
    allowed = {lot["batch"].number: lot["batch"] for lot in colocated_lots(incident, actor)}
    allowed[incident.batch.number] = incident.batch
    unknown = [n for n in numbers if n not in allowed]
    if unknown:
        raise InputError(
            {"batches": {n: _("Not the incident's batch or one of its co-located lots.") for n in unknown}}
        )
    if not numbers:
        raise InputError({"batches": [_("Name at least one batch.")]})
    return [allowed[n] for n in dict.fromkeys(numbers)]


def incident_seal(*, incident: Incident, actor: Actor, numbers: list[str], reason: str = "", now=None) -> list[Batch]:
    """Seal these lots in one action: each gets a seal and a `seal` event, in one transaction,
    rows locked in primary-key order. A batch already sealed is left as it is. The seal's time is
    read once the locks are held: a sale that held a batch's lock first (and was not stopped)
    committed before it, so `sealed_at` never reads earlier than that sale's `sold_at`."""
    require(actor, Capability.HANDLE_INCIDENTS)
    targets = _lots_by_number(incident, actor, numbers)
    sealed = []
    with transaction.atomic():
        locked = list(
            Batch.objects.select_for_update(of=("self",)).filter(pk__in=[b.pk for b in targets]).order_by("pk")
        )
        now = now or timezone.now()  # under the locks
        for batch in locked:
            if Seal.objects.filter(batch=batch, lifted_at__isnull=True).exists():
                continue
            try:
                with transaction.atomic():
                    Seal.objects.create(
                        batch=batch, incident=incident, reason=reason, sealed_at=now, sealed_by=actor.user
                    )
            except IntegrityError:  # sealed meanwhile by someone else: it is sealed, as asked
                continue
            record_event(
                batch=batch,
                action="seal",
                actor=actor,
                status_before=batch.status,
                status_after=batch.status,
                details={"incident": incident.pk, "reason": reason},
                at=now,
            )
            sealed.append(batch)
    return sealed


def incident_lift_seal(
    *, incident: Incident, actor: Actor, numbers: list[str], reason: str = "", now=None
) -> list[Batch]:
    """Lift the seals in force on these lots (each with a `lift_seal` event). 409 `not_sealed`
    for a lot that has none, and nothing changes. Its time, like a seal's, is read under the locks."""
    require(actor, Capability.HANDLE_INCIDENTS)
    targets = _lots_by_number(incident, actor, numbers)
    lifted = []
    with transaction.atomic():
        locked = list(
            Batch.objects.select_for_update(of=("self",)).filter(pk__in=[b.pk for b in targets]).order_by("pk")
        )
        now = now or timezone.now()  # under the locks
        for batch in locked:
            seal = Seal.objects.select_for_update().filter(batch=batch, lifted_at__isnull=True).first()
            if seal is None:
                raise DomainError(
                    "not_sealed", _("Batch %(number)s is not sealed.") % {"number": batch.number}, status=batch.status
                )
            Seal.objects.filter(pk=seal.pk, lifted_at__isnull=True).update(
                lifted_at=now, lifted_by=actor.user, lift_reason=reason
            )
            record_event(
                batch=batch,
                action="lift_seal",
                actor=actor,
                status_before=batch.status,
                status_after=batch.status,
                details={"incident": incident.pk, "reason": reason},
                at=now,
            )
            lifted.append(batch)
    return lifted


def incident_close(*, incident: Incident, actor: Actor, now=None) -> Incident:
    require(actor, Capability.HANDLE_INCIDENTS)
    now = now or timezone.now()
    if (
        Incident.objects.filter(pk=incident.pk, state=IncidentState.OPEN).update(
            state=IncidentState.CLOSED, closed_at=now, closed_by=actor.user
        )
        != 1
    ):
        raise DomainError("invalid_transition", _("The incident is closed already."), status=incident.state)
    incident.refresh_from_db()
    return incident


# --- buyers and notifications ------------------------------------------------------------------


def incident_batches(incident: Incident, actor: Actor) -> list[Batch]:
    """The positive batch and the lots sealed under this incident (within reach)."""
    sealed_ids = Seal.objects.filter(incident=incident).values("batch_id")
    others = visible_batches(actor).filter(pk__in=sealed_ids).exclude(pk=incident.batch_id)
    return [incident.batch, *others.select_related("market", "merchant").order_by("number")]


def incident_buyers(incident: Incident, actor: Actor) -> list[dict]:
    """Who bought items of the positive batch or of a sealed lot (sales not voided), with the
    market and merchant they bought from. One row per sale and batch."""
    batches = incident_batches(incident, actor)
    rows = (
        SaleItem.objects.filter(code__batch__in=batches, voided=False, sale__voided_at__isnull=True)
        .values(
            "sale_id",
            "code__batch__number",
            "sale__buyer_name",
            "sale__buyer_phone",
            "sale__buyer_kind",
            "sale__sold_at",
            "sale__merchant_id",
            "sale__merchant__name",
            "sale__merchant__stall",
            "sale__merchant__market__code",
            "sale__merchant__market__name",
        )
        .order_by("sale__sold_at", "sale_id")
    )
    grouped: dict[tuple, dict] = {}
    for row in rows:
        key = (row["sale_id"], row["code__batch__number"])
        if key not in grouped:
            grouped[key] = {
                "sale": row["sale_id"],
                "batch": row["code__batch__number"],
                "buyer_name": row["sale__buyer_name"],
                "buyer_phone": row["sale__buyer_phone"],
                "buyer_kind": row["sale__buyer_kind"],
                "sold_at": row["sale__sold_at"],
                "merchant_id": row["sale__merchant_id"],
                "merchant": row["sale__merchant__name"],
                "stall": row["sale__merchant__stall"],
                "market": row["sale__merchant__market__code"],
                "market_name": row["sale__merchant__market__name"],
                "items": 0,
            }
        grouped[key]["items"] += 1
    contacted = set(
        IncidentContact.objects.filter(incident=incident, kind=IncidentContact.Kind.BUYER).values_list(
            "phone", flat=True
        )
    )
    for row in grouped.values():
        row["contacted"] = bool(row["buyer_phone"]) and row["buyer_phone"] in contacted
    return list(grouped.values())


def incident_notify(*, incident: Incident, actor: Actor, now=None) -> dict:
    """Tell the merchants of the positive batch and of the sealed lots (a notification in the
    system) and every buyer of their sold items (an SMS through the outbox, sent once after the
    commit even if the broker is away). Each merchant and each buyer phone is told once per
    incident; a second call tells only those added since. Returns how many were told now."""
    require(actor, Capability.HANDLE_INCIDENTS)
    now = now or timezone.now()
    told = {"merchants": 0, "buyers": 0}
    with transaction.atomic():
        Incident.objects.select_for_update().get(pk=incident.pk)  # one notifier at a time
        done_merchants = set(
            IncidentContact.objects.filter(incident=incident, kind=IncidentContact.Kind.MERCHANT).values_list(
                "merchant_id", flat=True
            )
        )
        done_phones = set(
            IncidentContact.objects.filter(incident=incident, kind=IncidentContact.Kind.BUYER).values_list(
                "phone", flat=True
            )
        )
        for batch in incident_batches(incident, actor):
            if batch.merchant_id in done_merchants:
                continue
            merchant = Merchant.objects.select_related("user").get(pk=batch.merchant_id)
            title = _("Incident: batch %(number)s is sealed or quarantined") % {"number": batch.number}
            body = _(
                "A positive test result (batch %(positive)s) concerns your batch %(number)s. Do not sell its "
                "items; the regulator will contact you."
            ) % {"positive": incident.batch.number, "number": batch.number}
            Notification.objects.create(recipient=merchant.user, kind="incident", batch=batch, title=title, body=body)
            IncidentContact.objects.create(
                incident=incident,
                kind=IncidentContact.Kind.MERCHANT,
                batch=batch,
                merchant=merchant,
                name=merchant.name,
                phone=merchant.phone,
                contacted_at=now,
                contacted_by=actor.user,
            )
            done_merchants.add(batch.merchant_id)
            told["merchants"] += 1
        for row in incident_buyers(incident, actor):
            phone = row["buyer_phone"]
            if not phone or phone in done_phones:  # anonymised buyers have no phone left
                continue
            text = _(
                "[Import goods supervision] Goods you bought from %(merchant)s (%(market)s) on %(day)s belong to "
                "batch %(number)s, which is under investigation. Please stop using them and contact the market."
            ) % {
                "merchant": row["merchant"],
                "market": row["market_name"],
                "day": timezone.localtime(row["sold_at"]).strftime("%Y-%m-%d"),
                "number": row["batch"],
            }
            outbox.enqueue("batches.tasks.send_incident_sms", kwargs={"phone": phone, "text": str(text)})
            IncidentContact.objects.create(
                incident=incident,
                kind=IncidentContact.Kind.BUYER,
                batch=Batch.objects.get(number=row["batch"]),
                merchant_id=row["merchant_id"],
                sale_id=row["sale"],
                name=row["buyer_name"],
                phone=phone,
                contacted_at=now,
                contacted_by=actor.user,
            )
            done_phones.add(phone)
            told["buyers"] += 1
    return told


def incident_timeline(incident: Incident, actor: Actor) -> list[Event]:
    """The positive batch's events and the seal events of every lot in reach, in order."""
    lots = visible_batches(actor).filter(seals__incident=incident)
    return list(
        Event.objects.filter(Q(batch=incident.batch) | Q(batch__in=lots, action__in=("seal", "lift_seal")))
        .select_related("batch", "actor", "warehouse")
        .order_by("at", "id")
        .distinct()
    )
