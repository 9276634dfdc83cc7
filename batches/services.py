"""Services: every write of the batch lifecycle (SPEC §3–4). Keyword-only, one per action.

Views parse input and check the role; these functions check the state (409) under the row
lock through `lifecycle.transition`, write the records and the event in one transaction.
"""

import base64
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.reliability import outbox
from markets.models import Market, Regulator

from . import inputs, tasks
from .actions import KEEP, Action, Style, declare
from .actors import Actor, visible_codes
from .codes import codes_for_scans, lookup_chunk, move_codes
from .errors import DomainError, InputError
from .gs1 import digital_link_path
from .lifecycle import RECALLABLE, Change, allowed_actions, invalid_transition, record_event, transition
from .models import (
    Batch,
    BatchLine,
    BatchNumberCounter,
    Code,
    CodeStatus,
    Disinfection,
    Notification,
    Role,
    Sample,
    Status,
    TestResult,
)

S = Status
MERCHANT, REVIEWER, OPERATOR, REGULATOR = Role.MERCHANT, Role.REVIEWER, Role.OPERATOR, Role.REGULATOR
LINE_FIELDS = ("product_name", "category", "specification", "quantity", "unit", "gtin")
CODE_CHUNK = 5000


# --- declaration and approval -------------------------------------------------------------


def next_batch_number(*, market: Market, now=None) -> str:
    """`MKT-A-20261129-0007`: market, local date, a counter per market and day."""
    day = timezone.localdate(now or timezone.now())
    counter, _created = BatchNumberCounter.objects.select_for_update().get_or_create(market=market, day=day)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{market.code}-{day:%Y%m%d}-{counter.last:04d}"


@transaction.atomic
def batch_declare(
    *,
    actor: Actor,
    now=None,
    market: Market,
    customs_declaration_no: str,
    origin_country: str,
    port_of_entry: str,
    lines: list[dict],
) -> Batch:
    """A merchant declares imported goods into their own market (SPEC §1.1) → draft."""
    batch = Batch.objects.create(
        number=next_batch_number(market=market, now=now),
        market=market,
        merchant=actor.merchant,
        customs_declaration_no=customs_declaration_no,
        origin_country=origin_country,
        port_of_entry=port_of_entry,
    )
    BatchLine.objects.bulk_create(BatchLine(batch=batch, **_line(line)) for line in lines)
    record_event(
        batch=batch,
        action="declare",
        actor=actor,
        status_before="",
        status_after=Status.DRAFT,
        details={"lines": len(lines)},
        at=now,
    )
    return batch


def _line(data: dict) -> dict:
    return {name: data.get(name) or "" if name == "gtin" else data[name] for name in LINE_FIELDS}


@declare(
    Action.EDIT,
    sources={S.DRAFT},
    targets={KEEP},
    roles={MERCHANT},
    input=inputs.EditInput,
    label=gettext_lazy("Declaration edited"),
    button=gettext_lazy("Edit"),
    style=Style.NONE,  # its own page (batches/web/merchant.py), PATCH in the API
    epcis=("OBSERVE", ("bizstep", "declaring"), ("disp", "declared")),
)
@transaction.atomic
def batch_edit(*, batch: Batch, actor: Actor, now=None, fields: dict, lines: list[dict] | None) -> Batch:
    """Edit a draft; given lines replace the old ones."""

    def apply(locked):
        changed = {name: value for name, value in fields.items() if getattr(locked, name) != value}
        if lines is not None:
            locked.lines.all().delete()
            BatchLine.objects.bulk_create(BatchLine(batch=locked, **_line(line)) for line in lines)
        return Change(fields=changed, details={"changed": sorted(changed) + (["lines"] if lines is not None else [])})

    return transition(batch=batch, action="edit", actor=actor, apply=apply, now=now)


@declare(
    Action.SUBMIT,
    sources={S.DRAFT},
    targets={S.SUBMITTED},
    roles={MERCHANT},
    label=gettext_lazy("Submitted for review"),
    button=gettext_lazy("Submit for review"),
    style=Style.BUTTON,
    slug="submit",
    epcis=("OBSERVE", ("bizstep", "declaring"), ("disp", "submitted")),
    done=gettext_lazy("Batch %(number)s was submitted for review."),
)
def batch_submit(*, batch: Batch, actor: Actor, now=None) -> Batch:
    return transition(batch=batch, action="submit", actor=actor, now=now)


@declare(
    Action.APPROVE,
    sources={S.SUBMITTED},
    targets={S.APPROVED},
    roles={REVIEWER},
    input=inputs.ApproveInput,
    label=gettext_lazy("Approved"),
    button=gettext_lazy("Approve"),
    slug="approve",
    epcis=("OBSERVE", ("bizstep", "approving"), ("disp", "approved")),
    done=gettext_lazy("Batch %(number)s was approved."),
)
def batch_approve(*, batch: Batch, actor: Actor, now=None, warehouse) -> Batch:
    """The market's reviewer approves and chooses a warehouse serving the market."""
    return transition(
        batch=batch,
        action="approve",
        actor=actor,
        apply=lambda b: Change(
            fields={"warehouse_id": warehouse.pk, "reject_reason": ""}, details={"warehouse": warehouse.code}
        ),
        now=now,
    )


@declare(
    Action.REJECT,
    sources={S.SUBMITTED},
    targets={S.REJECTED},
    roles={REVIEWER},
    input=inputs.ReasonInput,
    label=gettext_lazy("Rejected"),
    button=gettext_lazy("Reject"),
    slug="reject",
    epcis=("OBSERVE", ("bizstep", "approving"), "non_conformant"),
    done=gettext_lazy("Batch %(number)s was rejected; the merchant sees the reason."),
)
def batch_reject(*, batch: Batch, actor: Actor, now=None, reason: str) -> Batch:
    return transition(
        batch=batch,
        action="reject",
        actor=actor,
        apply=lambda b: Change(fields={"reject_reason": reason}, details={"reason": reason}),
        now=now,
    )


@declare(
    Action.REVISE,
    sources={S.REJECTED},
    targets={S.DRAFT},
    roles={MERCHANT},
    label=gettext_lazy("Reopened for revision"),
    button=gettext_lazy("Revise"),
    style=Style.BUTTON,
    slug="revise",
    epcis=("OBSERVE", ("bizstep", "declaring"), ("disp", "declared")),
    done=gettext_lazy("Batch %(number)s is a draft again: correct it and submit."),
)
def batch_revise(*, batch: Batch, actor: Actor, now=None) -> Batch:
    return transition(batch=batch, action="revise", actor=actor, now=now)


# --- arrival (R5) -------------------------------------------------------------------------


@declare(
    Action.ARRIVE,
    sources={S.APPROVED, S.DISCREPANCY},
    targets={S.PRE_STORAGE, S.DISCREPANCY},
    roles={OPERATOR},
    input=inputs.ArriveInput,
    label=gettext_lazy("Arrival check"),
    button=gettext_lazy("Arrival check"),
    slug="arrive",
    epcis=("OBSERVE", "receiving", None),  # conformant / mismatch_quantity / non_conformant
    done=gettext_lazy("Batch %(number)s matches its declaration and is in pre-storage."),
)
@transaction.atomic
def batch_arrive(*, batch: Batch, actor: Actor, now=None, lines: list[dict], seen_status: str | None = None) -> Batch:
    """Check every declared line for type, specification and quantity (R5). All match →
    pre_storage; any mismatch → discrepancy. Re-verification from discrepancy works the same.
    `lines` must name each line of the batch once: {line, received_quantity, type_matches, spec_matches}.
    `seen_status`, the status the scanner saw, must still be the batch's under the lock (R7):
    two checks fired at once from `approved` never both count, the second as a re-check."""

    def apply(locked):
        if seen_status and locked.status != seen_status:
            raise invalid_transition(locked, "arrive", actor.role)
        declared = {line.pk: line for line in locked.lines.all()}
        given = {item["line"]: item for item in lines}
        errors = {}
        unknown = sorted(set(given) - set(declared))
        missing = sorted(set(declared) - set(given))
        if unknown:
            errors["lines"] = [_("Lines not of this batch: %s") % ", ".join(map(str, unknown))]
        if missing or len(given) != len(lines):
            errors.setdefault("lines", []).append(
                _("Check every declared line exactly once: missing %s") % ", ".join(map(str, missing))
            )
        if errors:
            raise InputError(errors)
        mismatches = []
        for line_id, line in declared.items():
            item = given[line_id]
            line.received_quantity = item["received_quantity"]
            line.type_matches = item["type_matches"]
            line.spec_matches = item["spec_matches"]
            if not (line.type_matches and line.spec_matches and line.received_quantity == line.quantity):
                mismatches.append(
                    {
                        "line": line_id,
                        "declared": line.quantity,
                        "received": line.received_quantity,
                        "type_matches": line.type_matches,
                        "spec_matches": line.spec_matches,
                    }
                )
        BatchLine.objects.bulk_update(declared.values(), ["received_quantity", "type_matches", "spec_matches"])
        return Change(
            status=Status.DISCREPANCY if mismatches else Status.PRE_STORAGE,
            details={"lines": lines, "mismatches": mismatches},
        )

    return transition(batch=batch, action="arrive", actor=actor, apply=apply, now=now)


@declare(
    Action.RETURN,
    sources={S.DISCREPANCY},
    targets={S.RETURNED},
    roles={OPERATOR, REGULATOR},
    input=inputs.OptionalReasonInput,
    label=gettext_lazy("Returned"),
    button=gettext_lazy("Return the goods"),
    slug="return",
    epcis=("OBSERVE", "shipping", "returned"),
    done=gettext_lazy("Batch %(number)s was returned."),
)
def batch_return(*, batch: Batch, actor: Actor, now=None, reason: str) -> Batch:
    return transition(batch=batch, action="return", actor=actor, details={"reason": reason}, now=now)


# --- disinfection and rest (R1, R3) -------------------------------------------------------


@declare(
    Action.DISINFECT,
    sources={S.PRE_STORAGE},
    targets={KEEP},
    roles={OPERATOR},
    input=inputs.DisinfectInput,
    label=gettext_lazy("Disinfected"),
    button=gettext_lazy("Record disinfection"),
    slug="disinfect",
    success_status=201,
    epcis=("OBSERVE", ("bizstep", "disinfecting"), ("disp", "disinfected")),
    done=gettext_lazy("Disinfection of batch %(number)s recorded."),
)
@transaction.atomic
def batch_disinfect(
    *, batch: Batch, actor: Actor, now=None, agent: str, concentration: str, method: str
) -> Disinfection:
    record = {}

    def apply(locked):
        record["row"] = Disinfection.objects.create(
            batch=locked,
            cycle=locked.cycle,
            agent=agent,
            concentration=concentration,
            method=method,
            performed_by=actor.user,
            performed_at=now or timezone.now(),
        )
        return Change(details={"agent": agent, "concentration": concentration, "method": method, "cycle": locked.cycle})

    transition(batch=batch, action="disinfect", actor=actor, apply=apply, now=now)
    return record["row"]


@declare(
    Action.MOVE_TO_RESTING,
    sources={S.PRE_STORAGE},
    targets={S.RESTING},
    roles={OPERATOR},
    label=gettext_lazy("Moved to the resting zone"),
    button=gettext_lazy("Move to resting zone"),
    style=Style.BUTTON,
    slug="move-to-resting",
    epcis=("OBSERVE", "holding", ("disp", "resting")),
    done=gettext_lazy("Batch %(number)s is in the resting zone."),
)
@transaction.atomic
def batch_move_to_resting(*, batch: Batch, actor: Actor, now=None) -> Batch:
    """Disinfected goods enter the resting zone; `rest_until = now + REST_PERIOD_SECONDS` is
    fixed here and nowhere else (R1). The timer is written to the outbox in the same
    transaction and reaches the broker after the commit or through the relay (R3)."""
    now = now or timezone.now()

    def apply(locked):
        if not Disinfection.objects.filter(batch=locked, cycle=locked.cycle).exists():
            raise DomainError(
                "not_disinfected",
                _("Record the disinfection before moving the batch to the resting zone."),
                status=locked.status,
                allowed=allowed_actions(locked.status, actor.role),
            )
        rest_until = now + timedelta(seconds=settings.REST_PERIOD_SECONDS)
        return Change(
            fields={"rest_started_at": now, "rest_until": rest_until},
            details={"rest_until": timezone.localtime(rest_until).isoformat(), "cycle": locked.cycle},
        )

    moved = transition(batch=batch, action="move_to_resting", actor=actor, apply=apply, now=now)
    outbox.enqueue(tasks.complete_rest, args=[moved.pk], eta=moved.rest_until)
    return moved


@declare(
    Action.SAMPLE,
    sources={S.RESTING, S.REST_COMPLETE},  # R2: a crew that forgot to sample is never stranded
    targets={KEEP},
    roles={OPERATOR},
    input=inputs.SampleInput,
    label=gettext_lazy("Sample taken"),
    button=gettext_lazy("Record sample"),
    slug="samples",
    success_status=201,
    epcis=("OBSERVE", "sampling", ("disp", "resting")),
    done=gettext_lazy("Sample of batch %(number)s recorded."),
)
@transaction.atomic
def batch_record_sample(*, batch: Batch, actor: Actor, now=None, sample_no: str, lab: str) -> Sample:
    record = {}

    def apply(locked):
        if Sample.objects.filter(batch=locked, sample_no=sample_no).exists():
            raise InputError({"sample_no": [_("Sample %s is already recorded.") % sample_no]})
        record["row"] = Sample.objects.create(
            batch=locked,
            cycle=locked.cycle,
            sample_no=sample_no,
            lab=lab,
            taken_by=actor.user,
            taken_at=now or timezone.now(),
        )
        return Change(details={"sample_no": sample_no, "lab": lab, "cycle": locked.cycle})

    transition(batch=batch, action="sample", actor=actor, apply=apply, now=now)
    return record["row"]


@declare(
    Action.TEST_RESULT,
    sources={S.RESTING, S.REST_COMPLETE},
    targets={KEEP, S.QUARANTINED},
    roles={OPERATOR},
    input=inputs.TestResultInput,
    label=gettext_lazy("Test result recorded"),
    button=gettext_lazy("Record test result"),
    slug="test-results",
    success_status=201,
    epcis=("OBSERVE", "inspecting", None),  # conformant / quarantined / unknown
    done=gettext_lazy("Test result of batch %(number)s recorded."),
)
@transaction.atomic
def batch_record_test_result(
    *, batch: Batch, actor: Actor, now=None, sample_no: str, result: str, report_no: str
) -> TestResult:
    """A positive result quarantines the batch at once and alerts the district's regulators."""
    record = {}

    def apply(locked):
        sample = Sample.objects.filter(batch=locked, sample_no=sample_no).first()
        if sample is None:
            raise InputError({"sample_no": [_("This batch has no sample %s.") % sample_no]})
        record["row"] = TestResult.objects.create(
            sample=sample, result=result, report_no=report_no, recorded_by=actor.user, recorded_at=now or timezone.now()
        )
        positive = result == TestResult.Outcome.POSITIVE and sample.cycle == locked.cycle
        return Change(
            status=Status.QUARANTINED if positive else None,
            details={"sample_no": sample_no, "result": result, "report_no": report_no, "cycle": sample.cycle},
        )

    moved = transition(batch=batch, action="test_result", actor=actor, apply=apply, now=now)
    if moved.status == Status.QUARANTINED:
        notify_regulators(
            batch=moved,
            kind="positive_result",
            title=_("Positive test result: batch %s is quarantined") % moved.number,
            body=_("Sample %(sample)s, report %(report)s. Decide: disinfect again or destroy.")
            % {"sample": sample_no, "report": report_no},
        )
        # Incident mode (batches.incidents): the positive result opens the batch's incident.
        from .incidents import incident_open

        incident_open(batch=moved, sample_no=sample_no, report_no=report_no)
    return record["row"]


def notify_regulators(*, batch: Batch, kind: str, title: str, body: str) -> None:
    """A notification each regulator of the batch's district (and each city-level one) can
    list, and an e-mail through the outbox (sent once, after the commit, even if the broker was away at the time)."""
    # The district's regulators and the city's, who see every district.
    regulators = list(
        Regulator.objects.filter(Q(district_id=batch.market.district_id) | Q(city_level=True)).select_related("user")
    )
    Notification.objects.bulk_create(
        Notification(recipient=r.user, kind=kind, batch=batch, title=title, body=body) for r in regulators
    )
    emails = [r.user.email for r in regulators if r.user.email]
    if emails:
        outbox.enqueue(tasks.send_alert_email, kwargs={"subject": str(title), "body": str(body), "recipients": emails})


# --- the test gate (R2), storage and codes ------------------------------------------------


@dataclass(frozen=True)
class GateState:
    """What the test gate (R2) sees on a batch now: the one reading that both the gate and the
    batch card's "next step" use, so the card never promises what the gate refuses."""

    rest_over: bool
    rest_until: datetime | None
    samples: tuple[str, ...]  # sample numbers of the current rest period, oldest first
    pending: tuple[str, ...]  # those with no result yet
    negative: bool
    positive: bool
    invalid: bool  # an `invalid` result was recorded (it counts as neither)

    @property
    def unmet(self) -> str | None:
        """The gate's 409 code for the first condition not met, or None: the gate opens."""
        if not self.rest_over:
            return "rest_not_complete"
        if self.positive:
            return "positive_result"
        if not self.negative:
            return "no_negative_result"
        return None


def gate_state(batch: Batch, *, now=None) -> GateState:
    """The gate's conditions on `batch` at `now`, in one query (the current rest period's
    samples, each joined with its results): the rest is over once `rest_until` has passed
    (R1, time is the truth)."""
    now = now or timezone.now()
    rows = (
        Sample.objects.filter(batch=batch, cycle=batch.cycle)
        .order_by("taken_at", "id")
        .values_list("sample_no", "results__result")
    )
    samples, outcomes = {}, set()
    for sample_no, result in rows:
        samples.setdefault(sample_no, []).append(result)
        outcomes.add(result)
    return GateState(
        rest_over=batch.rest_until is not None and now >= batch.rest_until,
        rest_until=batch.rest_until,
        samples=tuple(samples),
        pending=tuple(number for number, results in samples.items() if results == [None]),
        negative=TestResult.Outcome.NEGATIVE in outcomes,
        positive=TestResult.Outcome.POSITIVE in outcomes,
        invalid=TestResult.Outcome.INVALID in outcomes,
    )


def check_test_gate(batch: Batch, *, role: str, now) -> None:
    """R2: the rest is complete, at least one negative result for a sample of the current rest
    period and no positive one; `invalid` counts as neither. Raises DomainError (409)."""
    allowed = allowed_actions(batch.status, role)
    state = gate_state(batch, now=now)
    if batch.status == Status.RESTING or state.unmet == "rest_not_complete":
        left = (batch.rest_until - now) if batch.rest_until else None
        raise DomainError(
            "rest_not_complete",
            rest_left_message(left),
            status=batch.status,
            allowed=allowed,
            rest_until=timezone.localtime(batch.rest_until).isoformat() if batch.rest_until else None,
        )
    if state.unmet == "positive_result":
        raise DomainError(
            "positive_result",
            _("A positive test result was recorded in this rest period."),
            status=batch.status,
            allowed=allowed,
        )
    if state.unmet == "no_negative_result":
        raise DomainError(
            "no_negative_result",
            _("No negative test result for a sample of this rest period yet."),
            status=batch.status,
            allowed=allowed,
        )


def rest_left(left: timedelta, *, whole_minutes_up: bool = False) -> tuple[int, int, int, int]:
    """(days, hours, minutes, seconds) of a rest still to run: the one reading of the time left,
    for the 409 message and every page. The message says whole minutes, rounded up ("0 minutes
    left" would read as "done" to the crew); a page shows the time as its countdown ticks."""
    seconds = max(left.total_seconds(), 0)
    seconds = 60 * math.ceil(seconds / 60) if whole_minutes_up else int(seconds)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return days, hours, minutes, secs


def rest_left_text(left: timedelta, *, ticking: bool = False) -> str:
    """The one wording of a rest's time left, in the active language. `ticking`, for a page's
    countdown (which ticks every second): its two largest units, seconds under a minute. Else,
    for a message that stays on the screen: days, hours and whole minutes rounded up."""
    if not ticking:
        days, hours, minutes, _seconds = rest_left(left, whole_minutes_up=True)
        return _("%(days)d days %(hours)d hours %(minutes)d minutes") % {
            "days": days,
            "hours": hours,
            "minutes": minutes,
        }
    days, hours, minutes, secs = rest_left(left)
    if days:
        return _("%(days)d days %(hours)d hours") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d hours %(minutes)d minutes") % {"hours": hours, "minutes": minutes}
    if minutes:
        return _("%(minutes)d minutes %(seconds)d seconds") % {"minutes": minutes, "seconds": secs}
    return _("%(seconds)d seconds") % {"seconds": secs}


def rest_left_message(left: timedelta | None) -> str:
    if left is None or left.total_seconds() <= 0:
        return _("The rest period is not over.")
    return _("The rest period is not over: %(left)s left.") % {"left": rest_left_text(left)}


def _gated_transition(*, batch: Batch, action: str, actor: Actor, now, issue=None) -> Batch:
    """R2 re-checked under the row lock. Asked while the batch still rests, the answer is
    rest_not_complete with rest_until (not a bare invalid_transition), so the crew sees how long is left.
    Past rest_until, `transition` ends the rest first in the same transaction (R1)."""
    with transaction.atomic():
        locked = Batch.objects.select_for_update().get(pk=batch.pk)
        if locked.status == Status.RESTING and not locked.rest_is_over(now):
            check_test_gate(locked, role=actor.role, now=now)

        def apply(current):
            check_test_gate(current, role=actor.role, now=now)
            return issue(current) if issue else None

        return transition(batch=locked, action=action, actor=actor, apply=apply, now=now)


@declare(
    Action.MOVE_TO_STORAGE,
    sources={S.REST_COMPLETE},
    targets={S.STORED},
    roles={OPERATOR},
    label=gettext_lazy("Moved to storage"),
    button=gettext_lazy("Move to storage"),
    style=Style.BUTTON,
    slug="move-to-storage",
    stopped_by_seal=True,
    epcis=("OBSERVE", "storing", "sellable_not_accessible"),
    done=gettext_lazy("Batch %(number)s moved to storage."),
)
@transaction.atomic
def batch_move_to_storage(*, batch: Batch, actor: Actor, now=None) -> Batch:
    return _gated_transition(batch=batch, action="move_to_storage", actor=actor, now=now or timezone.now())


def new_token() -> str:
    """120 random bits as 24 base32 characters (SPEC: ≥ 80 bits, unguessable)."""
    return new_tokens(1)[0]


def new_tokens(count: int) -> list[str]:
    """`count` tokens from one call to the system CSPRNG: 15 random bytes (120 bits) encode to
    exactly 24 base32 characters with no padding, so one encoded string slices into tokens."""
    text = base64.b32encode(secrets.token_bytes(15 * count)).decode("ascii")
    return [text[start : start + 24] for start in range(0, 24 * count, 24)]


def new_serials(count: int) -> list[str]:
    """`count` GS1 AI 21 serials for Digital Link: 10 random bytes (80 bits, SPEC §4) encode to
    exactly 16 base32 characters — inside AI 21's character set, nothing to escape in a URL."""
    text = base64.b32encode(secrets.token_bytes(10 * count)).decode("ascii")
    return [text[start : start + 16] for start in range(0, 16 * count, 16)]


def code_url(*, token: str, gtin: str, batch_number: str, serial: str) -> str:
    """What the QR encodes: GS1 Digital Link where the line has a GTIN, else /c/{token}."""
    if gtin:
        return settings.PUBLIC_BASE_URL + digital_link_path(gtin=gtin, lot=batch_number, serial=serial)
    return f"{settings.PUBLIC_BASE_URL}/c/{token}"


@declare(
    Action.ISSUE_CODES,
    sources={S.STORED},
    targets={S.CODED},
    roles={OPERATOR},
    label=gettext_lazy("Codes issued"),
    button=gettext_lazy("Issue codes"),
    style=Style.BUTTON,
    stopped_by_seal=True,
    slug="issue-codes",
    epcis=("ADD", "commissioning", "active"),
    done=gettext_lazy("Codes issued for batch %(number)s."),
)
@transaction.atomic
def batch_issue_codes(*, batch: Batch, actor: Actor, now=None) -> Batch:
    """R2 gate, then one code per received item (R5). Item numbers run on across the lines;
    each code gets a random token and a random Digital Link serial (SPEC §4).

    Scales to large batches: rows are built and bulk-inserted `CODE_CHUNK` at a time (never
    all at once), each chunk's tokens come from one call to the CSPRNG, and the rows name
    the batch and line by id so no model instance is looked up per row."""
    now = now or timezone.now()

    def issue(locked):
        item_no = locked.codes.aggregate(m=Max("item_no"))["m"] or 0
        issued = 0
        for line in locked.lines.all():
            count = line.received_quantity if line.received_quantity is not None else line.quantity
            for start in range(0, count, CODE_CHUNK):
                size = min(CODE_CHUNK, count - start)
                Code.objects.bulk_create(
                    [
                        Code(
                            batch_id=locked.pk,
                            line_id=line.pk,
                            item_no=item_no + offset,
                            serial=serial,
                            token=token,
                            issued_at=now,
                        )
                        for offset, (token, serial) in enumerate(
                            zip(new_tokens(size), new_serials(size), strict=True), start=1
                        )
                    ]
                )
                item_no += size
                issued += size
        return Change(details={"issued": issued})

    return _gated_transition(batch=batch, action="issue_codes", actor=actor, now=now, issue=issue)


def _codes_to_release(*, batch: Batch, actor: Actor, scanned: list[str]) -> list[Code]:
    """The codes the scanned values name, each in the warehouse and of `batch`; else InputError
    with the reason per scanned value. Codes outside the actor's scope count as unknown, so
    the answer reveals nothing about batches the actor may not see (SPEC §2)."""
    found = codes_for_scans(scanned, queryset=visible_codes(actor))
    not_in_warehouse = {
        CodeStatus.RELEASED: _("This code has already left the warehouse."),
        CodeStatus.SOLD: _("This code is already sold."),
        CodeStatus.RECALLED: _("This code is recalled."),
    }
    problems, codes, seen = {}, [], {}
    for value in scanned:
        code = found.get(value)
        if code is None:
            problems.setdefault(value, _("Unknown code."))
        elif code.pk in seen:
            problems.setdefault(value, _("The same code appears twice in the list (%s).") % seen[code.pk])
        elif code.batch_id != batch.pk:
            problems.setdefault(value, _("This code belongs to batch %s, not to this batch.") % code.batch.number)
        elif code.status != CodeStatus.IN_WAREHOUSE:
            problems.setdefault(value, not_in_warehouse.get(code.status, _("This code is not in the warehouse.")))
        if code is not None and code.pk not in seen:
            seen[code.pk] = value
            codes.append(code)
    if problems:
        raise InputError({"codes": problems})
    return codes


@declare(
    Action.RELEASE,
    sources={S.CODED},
    targets={KEEP, S.RELEASED},  # released once no code is left in the warehouse
    roles={OPERATOR},
    input=inputs.ReleaseInput,
    label=gettext_lazy("Codes released"),
    button=gettext_lazy("Release"),
    slug="release",
    stopped_by_seal=True,
    epcis=("OBSERVE", "departing", "sellable_accessible"),
    done=gettext_lazy("Every code of batch %(number)s left the warehouse."),
)
@transaction.atomic
def batch_release(
    *, batch: Batch, actor: Actor, now=None, tokens: list[str] | None = None, release_all: bool = False
) -> Batch:
    """Codes leave the warehouse to the batch's merchant (SPEC §4). `tokens` are scanned values
    in any form a label carries: a token, a `/c/` URL or a GS1 Digital Link.

    All-or-nothing: a value naming no code the actor can see, a code of another batch, one
    already released, sold or recalled, or the same code twice in the list → 400
    `{"codes": {value: reason}}` and nothing changes. When no code is left in the warehouse
    the batch is `released`."""
    now = now or timezone.now()

    def apply(locked):
        in_warehouse = locked.codes.filter(status=CodeStatus.IN_WAREHOUSE)

        def release(codes):
            return move_codes(codes, source=CodeStatus.IN_WAREHOUSE, target=CodeStatus.RELEASED, released_at=now)

        if release_all:
            count = release(locked.codes)
            released = {"all": True, "count": count}
        else:
            codes = _codes_to_release(batch=locked, actor=actor, scanned=tokens)
            ids, chunk = [code.pk for code in codes], lookup_chunk()
            count = sum(
                release(locked.codes.filter(pk__in=ids[start : start + chunk])) for start in range(0, len(ids), chunk)
            )  # bounded IN lists on SQLite (its parameter limit); one on PostgreSQL
            released = {"count": count, "codes": [code.token for code in codes]}
        left = in_warehouse.exists()
        return Change(status=None if left else Status.RELEASED, details=released)

    return transition(batch=batch, action="release", actor=actor, apply=apply, now=now)


# --- the regulator's decisions ------------------------------------------------------------


@declare(
    Action.REDISINFECT,
    sources={S.QUARANTINED},
    targets={S.PRE_STORAGE},
    roles={REGULATOR},
    input=inputs.ReasonInput,
    label=gettext_lazy("Sent back for disinfection"),
    button=gettext_lazy("Disinfect again"),
    slug="redisinfect",
    epcis=("OBSERVE", ("bizstep", "redisinfecting"), ("disp", "quarantined")),
    done=gettext_lazy("Batch %(number)s goes back to pre-storage for a new disinfection."),
)
def batch_redisinfect(*, batch: Batch, actor: Actor, now=None, reason: str) -> Batch:
    """Back to pre-storage: a new cycle, so a new disinfection and a full new rest are required."""
    return transition(
        batch=batch,
        action="redisinfect",
        actor=actor,
        apply=lambda b: Change(
            fields={"cycle": b.cycle + 1, "rest_started_at": None, "rest_until": None},
            details={"reason": reason, "cycle": b.cycle + 1},
        ),
        now=now,
    )


@declare(
    Action.DESTROY,
    sources={S.QUARANTINED},
    targets={S.DESTROYED},
    roles={REGULATOR},
    input=inputs.ReasonInput,
    label=gettext_lazy("Destroyed"),
    button=gettext_lazy("Destroy"),
    slug="destroy",
    epcis=("DELETE", "destroying", "destroyed"),
    done=gettext_lazy("Batch %(number)s is recorded as destroyed."),
)
def batch_destroy(*, batch: Batch, actor: Actor, now=None, reason: str) -> Batch:
    return transition(batch=batch, action="destroy", actor=actor, details={"reason": reason}, now=now)


@declare(
    Action.RECALL,
    sources=RECALLABLE,
    targets={S.RECALLED},
    roles={REGULATOR},
    input=inputs.ReasonInput,
    label=gettext_lazy("Recalled"),
    button=gettext_lazy("Recall"),
    slug="recall",  # answers with the buyers: markets.services.batch_recall_with_buyers
    epcis=("OBSERVE", ("bizstep", "recalling"), "recalled"),
    done=gettext_lazy("Batch %(number)s was recalled."),
)
@transaction.atomic
def batch_recall(*, batch: Batch, actor: Actor, now=None, reason: str) -> Batch:
    """The regulator recalls the batch (SPEC §3, from `approved` on): every unsold code, in the
    warehouse or at the stall, becomes `recalled` and can no longer be sold (R4); sold codes stay
    sold, their buyers are the ones to contact. The batch's merchant is notified (batches.notices).

    One transaction, set-based whatever the number of codes: one UPDATE of the codes under the
    batch's row lock, one count, the event and the notification — never half-applied. A sale
    or void of the batch's codes takes the batch lock first, so it comes wholly before or after.
    """
    counts = {}

    def apply(locked):
        counts["recalled"] = move_codes(
            locked.codes, source={CodeStatus.IN_WAREHOUSE, CodeStatus.RELEASED}, target=CodeStatus.RECALLED
        )
        counts["sold"] = locked.codes.filter(status=CodeStatus.SOLD).count()
        return Change(details={"reason": reason, "codes_recalled": counts["recalled"], "codes_sold": counts["sold"]})

    return transition(batch=batch, action="recall", actor=actor, apply=apply, now=now)
