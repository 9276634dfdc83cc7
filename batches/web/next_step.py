"""What comes next on the batch card (docs/web.md, "What comes next on the batch card").

The card never derives its advice from the status alone: it reads what the guards still need
(the disinfection before resting, the test gate R2 through `services.gate_state`, a seal in
force) and from that

- `withheld()`: the actions the role may take in this status that the card does not offer,
  because their guard would refuse them now (moving to storage without a negative result,
  resting undisinfected goods, a result before any sample, anything a seal stops); the API's
  `allowed_actions` still lists them and the service still decides;
- `next_step()`: who acts next (the reader, another role by name, nobody until a time, or
  nobody at all once the batch has ended) and why, in words.

So a card either offers an action the server accepts or names who must act and why
(tests/test_no_dead_end.py walks every reachable status × role).
"""

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..actions import Action, stopped_by_seal
from ..models import Role, Seal, Status
from ..seals import sealed_batch_ids
from ..services import GateState, gate_state

S = Status
WAIT, NOBODY = "wait", "nobody"  # who acts next when no person can: time must pass; the batch has ended

# Statuses whose next step depends on the test gate (R2).
GATED = {S.RESTING, S.REST_COMPLETE, S.STORED}
# Statuses in which a seal in force can stop the next step.
SEALABLE = {S.REST_COMPLETE, S.STORED, S.CODED, S.RELEASED}

HEADINGS = {
    "you": gettext_lazy("Next — you:"),
    Role.MERCHANT: gettext_lazy("Next — the merchant:"),
    Role.REVIEWER: gettext_lazy("Next — the market's reviewer:"),
    Role.OPERATOR: gettext_lazy("Next — the warehouse crew:"),
    Role.REGULATOR: gettext_lazy("Next — the regulator:"),
    WAIT: gettext_lazy("Next — waiting:"),
    NOBODY: gettext_lazy("Finished:"),
}


@dataclass
class Facts:
    """What the card knows of the guards, read once per page."""

    disinfected: bool = False
    gate: GateState | None = None
    sealed: bool = False
    in_warehouse: int = 0
    released: int = 0  # codes with the merchant, not sold yet


@dataclass
class Step:
    by: str  # a role, WAIT or NOBODY
    text: str
    link: dict | None = None  # {"url", "label"}: where the reader acts, when not on this card
    needs: set = field(default_factory=set)  # the actions this step waits for
    negative: bool = False


def read_facts(batch, *, status: str, disinfected: bool, codes: dict, now=None) -> Facts:
    """`codes`: the batch's code counts by status."""
    return Facts(
        disinfected=disinfected,
        gate=gate_state(batch, now=now) if status in GATED else None,
        sealed=bool(sealed_batch_ids([batch.pk])) if status in SEALABLE else False,
        in_warehouse=codes.get("in_warehouse") or 0,
        released=codes.get("released") or 0,
    )


def withheld(action: str, facts: Facts) -> bool:
    """Whether the card keeps back an action its role may take in this status, because its
    guard would refuse it now (the reason is the next step's text)."""
    if facts.sealed and stopped_by_seal(action):
        return True
    if action == Action.MOVE_TO_RESTING:
        return not facts.disinfected
    if action in (Action.MOVE_TO_STORAGE, Action.ISSUE_CODES):
        return facts.gate is None or facts.gate.unmet is not None
    if action == Action.TEST_RESULT:  # a result names a sample of this rest period; none taken yet
        return facts.gate is None or not facts.gate.samples
    if action == Action.RELEASE:
        return facts.in_warehouse == 0
    return False


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _gate_step(gate: GateState, crew: bool) -> Step:
    """Resting or rest complete: what the gate still needs, said to the crew (`crew`) or about it."""
    until = {"until": _local(gate.rest_until)}
    if gate.positive:  # recorded behind the service's back; the gate refuses, the regulator decides
        return Step(
            Role.REGULATOR,
            _("A positive result was recorded in this rest period: the regulator decides what happens to the goods."),
        )
    if gate.negative:
        if not gate.rest_over:
            return Step(
                WAIT,
                _(
                    "Negative result recorded. The rest period ends at %(until)s; then move the goods to the "
                    "storage zone."
                )
                % until
                if crew
                else _(
                    "Negative result recorded. The rest period ends at %(until)s; then the warehouse crew moves "
                    "the goods to the storage zone."
                )
                % until,
                negative=True,
            )
        return Step(
            Role.OPERATOR,
            _("Rest over and a negative result recorded: move the goods to the storage zone.")
            if crew
            else _("Rest over and a negative result recorded: the warehouse crew moves the goods to the storage zone."),
            needs={Action.MOVE_TO_STORAGE},
            negative=True,
        )
    if not gate.samples:
        if gate.rest_over:
            text = (
                _(
                    "The rest period is over but no sample was taken in it: take a nucleic acid sample now and "
                    "record it, then record its result. A negative result lets the goods move to storage."
                )
                if crew
                else _(
                    "The rest period is over but no sample was taken in it: the warehouse crew takes a nucleic "
                    "acid sample now; a negative result lets the goods move to storage."
                )
            )
        else:
            text = (
                _("Take a nucleic acid sample during the rest and record it (the rest period ends at %(until)s).")
                if crew
                else _("Resting until %(until)s: the warehouse crew takes a nucleic acid sample during the rest.")
            ) % until
        return Step(Role.OPERATOR, text, needs={Action.SAMPLE})
    if gate.pending:
        values = {"sample": gate.pending[0], **until}
        text = (
            _("Record the result of sample %(sample)s as soon as the laboratory reports it.")
            if crew
            else _("Sample %(sample)s waits for the laboratory; the warehouse crew records its result.")
        ) % values
        if not gate.rest_over:
            text += " " + _("The rest period ends at %(until)s.") % until
        return Step(Role.OPERATOR, text, needs={Action.TEST_RESULT})
    # Every sample of this rest period has a result, and none is negative or positive: invalid only.
    text = (
        _(
            "The results so far are invalid and count as neither: take a new sample (or record a retest of "
            "the same sample) and record its result."
        )
        if crew
        else _("The results so far are invalid: the warehouse crew takes a new sample and records its result.")
    )
    return Step(Role.OPERATOR, text, needs={Action.SAMPLE, Action.TEST_RESULT})


def _step(batch, status: str, role: str, facts: Facts) -> Step:
    crew = role == Role.OPERATOR
    merchant = role == Role.MERCHANT
    if status == S.DRAFT:
        if merchant:
            return Step(Role.MERCHANT, _("Check the declaration and submit it for review."), needs={Action.SUBMIT})
        return Step(
            Role.MERCHANT, _("The merchant is still preparing the declaration; it comes to review once submitted.")
        )
    if status == S.SUBMITTED:
        if role == Role.REVIEWER:
            return Step(
                Role.REVIEWER,
                _("Check the declaration: approve it and choose the warehouse, or reject it with a reason."),
                needs={Action.APPROVE},
            )
        return Step(Role.REVIEWER, _("The declaration waits for the market's reviewer to approve or reject it."))
    if status == S.REJECTED:
        if merchant:
            return Step(
                Role.MERCHANT,
                _("Read the reason above, correct the declaration and submit it again."),
                needs={Action.REVISE},
            )
        return Step(Role.MERCHANT, _("The declaration was rejected; the merchant corrects it and submits it again."))
    if status == S.APPROVED:
        warehouse = {"warehouse": batch.warehouse.name if batch.warehouse else ""}
        if crew:
            return Step(
                Role.OPERATOR,
                _("When the goods arrive, compare them with the declaration and record the arrival check."),
                needs={Action.ARRIVE},
            )
        return Step(
            Role.OPERATOR,
            _("The goods go to %(warehouse)s; the warehouse crew checks them against the declaration on arrival.")
            % warehouse,
        )
    if status == S.DISCREPANCY:
        if crew:
            return Step(
                Role.OPERATOR,
                _(
                    "The goods do not match the declaration: keep them in pre-storage, count and check them again, "
                    "or return them."
                ),
                needs={Action.ARRIVE},
            )
        return Step(
            Role.OPERATOR,
            _(
                "The goods do not match the declaration; they wait in pre-storage until the warehouse crew checks "
                "them again or returns them."
            ),
        )
    if status == S.PRE_STORAGE:
        if not facts.disinfected:
            return Step(
                Role.OPERATOR,
                _("Disinfect all the goods and record the disinfection; then move them to the resting zone.")
                if crew
                else _("In pre-storage: the warehouse crew disinfects the goods, then moves them to the resting zone."),
                needs={Action.DISINFECT},
            )
        return Step(
            Role.OPERATOR,
            _("Disinfection recorded: move the goods to the resting zone.")
            if crew
            else _("Disinfected: the warehouse crew moves the goods to the resting zone for the full rest period."),
            needs={Action.MOVE_TO_RESTING},
        )
    if status in (S.RESTING, S.REST_COMPLETE):
        return _gate_step(facts.gate, crew)
    if status == S.QUARANTINED:
        if role == Role.REGULATOR:
            return Step(
                Role.REGULATOR,
                _(
                    "Positive result: decide whether the goods are disinfected again (a new disinfection and a "
                    "full new rest) or destroyed."
                ),
                needs={Action.REDISINFECT, Action.DESTROY},
            )
        if crew:
            return Step(
                Role.REGULATOR,
                _(
                    "Positive result: keep the goods isolated where they are in the resting zone; do not move, "
                    "open or release them. Wait for the regulator's decision (disinfect again or destroy)."
                ),
            )
        return Step(
            Role.REGULATOR,
            _(
                "Positive result: the goods are held isolated in the resting zone until the regulator decides "
                "(disinfect again or destroy)."
            ),
        )
    if status == S.STORED:
        if facts.gate is not None and facts.gate.unmet is not None:  # a result recorded behind the gate's back
            return Step(
                Role.REGULATOR,
                _("The test gate no longer holds for these goods: the regulator decides what happens to them."),
            )
        return Step(
            Role.OPERATOR,
            _("Issue the codes, print the labels and stick one on each item.")
            if crew
            else _("In storage: the warehouse crew issues a code for each item."),
            needs={Action.ISSUE_CODES},
        )
    if status == S.CODED:
        if crew:
            return Step(
                Role.OPERATOR,
                _("Stick a label on each item, then release the codes to the merchant (by scanning, or all at once)."),
                needs={Action.RELEASE},
            )
        if merchant and facts.released:
            return Step(
                Role.MERCHANT,
                _(
                    "Some items are with you already: record each sale by scanning the item's code; the "
                    "warehouse crew releases the rest."
                ),
                link={"url": reverse("web:sale-new"), "label": _("Record a sale")},
                needs={"sale"},
            )
        if merchant:
            return Step(
                Role.OPERATOR,
                _(
                    "Codes issued: the warehouse crew releases the goods to you; once released, you sell them "
                    "by scanning."
                ),
                needs={Action.RELEASE},
            )
        return Step(
            Role.OPERATOR,
            _("Codes issued: the warehouse crew releases the labelled goods to the merchant."),
            needs={Action.RELEASE},
        )
    if status == S.RELEASED:
        if merchant:
            return Step(
                Role.MERCHANT,
                _("Every item is with you: record each sale by scanning the item's code."),
                link={"url": reverse("web:sale-new"), "label": _("Record a sale")},
                needs={"sale"},
            )
        return Step(
            Role.MERCHANT,
            _("Every code has left the warehouse: the merchant sells the items, each sale recorded by its code."),
            needs={"sale"},
        )
    if status == S.RECALLED:
        if merchant:
            return Step(
                NOBODY,
                _(
                    "Recalled by the regulator: take the unsold items off sale and keep them aside; the regulator "
                    "contacts the buyers of the sold ones."
                ),
            )
        return Step(NOBODY, _("Recalled by the regulator: unsold items may no longer be sold."))
    if status == S.RETURNED:
        return Step(NOBODY, _("The goods were returned; nothing more happens to this batch."))
    if status == S.DESTROYED:
        return Step(NOBODY, _("The goods were destroyed under supervision; nothing more happens to this batch."))
    return Step(NOBODY, "")


def _sealed_step(role: str) -> Step:
    if role == Role.OPERATOR:
        text = _(
            "Sealed by the regulator: keep the goods where they are; nothing moves to storage, is coded or leaves "
            "the warehouse until the regulator lifts the seal."
        )
    elif role == Role.MERCHANT:
        text = _("Sealed by the regulator: do not sell these goods until the regulator lifts the seal.")
    elif role == Role.REGULATOR:
        text = _("Sealed: nothing moves or is sold until you lift the seal on the incident's page.")
    else:
        text = _("Sealed by the regulator: nothing moves or is sold until the regulator lifts the seal.")
    return Step(Role.REGULATOR, text)


def next_step(batch, *, status: str, role: str | None, facts: Facts) -> dict:
    """`{by, you, heading, text, link, negative}` for the reader with this role."""
    step = _step(batch, status, role, facts)
    if facts.sealed and any(stopped_by_seal(action) or action == "sale" for action in step.needs):
        step = _sealed_step(role)
        incident = (
            Seal.objects.filter(batch=batch, lifted_at__isnull=True).values_list("incident_id", flat=True).first()
        )
        if role == Role.REGULATOR and incident:
            step.link = {"url": reverse("regulation:incident", args=[incident]), "label": _("Open the incident")}
    you = step.by == role
    return {
        "by": step.by,
        "you": you,
        "heading": str(HEADINGS["you" if you else step.by]),
        "text": step.text,
        "link": step.link,
        "negative": step.negative,
    }
