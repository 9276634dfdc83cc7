"""Who is told of what (docs/contract.md "Notices"): a notice for each person concerned, written
with the batch's event, in the same transaction (so a rolled-back action tells nobody).

The table `TOLD` reads as the contract does: an event (its action, and where it matters the
status it led to) → the people told and the kind of notice. What a kind says is
`models.NOTICE_TEXTS`; the serious kinds also go out by SMS (merchants' phones) and e-mail,
through the outbox, after the commit. Regulators' positive-result alerts are
`services.notify_regulators`; the merchants' incident notice is `incidents.incident_notify`.
"""

from django.conf import settings
from django.utils import translation

from config.reliability import outbox
from markets.models import Merchant, Reviewer
from warehouse.models import Operator

from .models import NOTICE_TEXTS, SERIOUS_NOTICES, Batch, Notification
from .models import Status as S

MERCHANT, REVIEWERS, OPERATORS = "merchant", "reviewers", "operators"

# (action, status after it, or None for any) → [(who, kind)]
TOLD: dict[tuple[str, str | None], list[tuple[str, str]]] = {
    ("submit", None): [(REVIEWERS, "submitted")],
    ("approve", None): [(MERCHANT, "approved"), (OPERATORS, "approved_into_warehouse")],
    ("reject", None): [(MERCHANT, "rejected")],
    ("arrive", S.DISCREPANCY): [(MERCHANT, "discrepancy")],
    ("test_result", S.QUARANTINED): [(MERCHANT, "quarantined")],
    ("complete_rest", None): [(OPERATORS, "rest_complete")],
    ("seal", None): [(MERCHANT, "sealed")],
    ("lift_seal", None): [(MERCHANT, "unsealed")],
    ("recall", None): [(MERCHANT, "recall")],
}


def told_of(action: str, status_after: str) -> list[tuple[str, str]]:
    return TOLD.get((action, status_after)) or TOLD.get((action, None)) or []


def tell_of_event(*, batch: Batch, action: str, status_after: str, details: dict) -> list[Notification]:
    """The notices one event of `batch` calls for (none for most)."""
    told = told_of(action, status_after)
    if not told:
        return []
    params = _params(batch, details)
    notices = []
    for who, kind in told:
        notices += [_notice(user_id, kind, batch.pk, params) for user_id, _phone, _email in _people(who, [batch])]
    Notification.objects.bulk_create(notices)
    if any(kind in SERIOUS_NOTICES for _who, kind in told):
        _send_serious(notices, batch)
    return notices


def tell_rests_completed(due: list[tuple[int, str, int]]) -> None:
    """The rest sweep's notices to the operators, for one chunk of (batch id, number, warehouse id):
    two queries whatever its size."""
    operators: dict[int, list] = {}
    for warehouse_id, user_id in Operator.objects.filter(
        warehouse_id__in={warehouse_id for _id, _number, warehouse_id in due}, user__is_active=True
    ).values_list("warehouse_id", "user_id"):
        operators.setdefault(warehouse_id, []).append(user_id)
    Notification.objects.bulk_create(
        _notice(user_id, "rest_complete", batch_id, {"number": number})
        for batch_id, number, warehouse_id in due
        for user_id in operators.get(warehouse_id, [])
    )


def _params(batch: Batch, details: dict) -> dict:
    """What the texts may name: the batch, its people and places, the event's plain details."""
    row = (
        Batch.objects.filter(pk=batch.pk)
        .values("number", "merchant__name", "market__name", "warehouse__name", "warehouse__code")
        .get()
    )
    params = {key: value for key, value in details.items() if isinstance(value, str | int | float)}
    mismatches = details.get("mismatches")
    params.update(
        number=row["number"],
        merchant=row["merchant__name"],
        market=row["market__name"],
        warehouse=f"{row['warehouse__name']} ({row['warehouse__code']})" if row["warehouse__code"] else "",
        lines=batch.lines.count(),
        mismatches=len(mismatches) if isinstance(mismatches, list) else 0,
        reason=details.get("reason") or "—",
    )
    return params


def _people(who: str, batches: list[Batch]) -> list[tuple[int, str, str]]:
    """(user id, phone, e-mail) of the people `who` names for these batches; active accounts only."""
    if who == MERCHANT:
        rows = Merchant.objects.filter(pk__in={b.merchant_id for b in batches}).values_list(
            "user_id", "phone", "user__email", "user__is_active"
        )
    elif who == REVIEWERS:
        rows = Reviewer.objects.filter(market_id__in={b.market_id for b in batches}).values_list(
            "user_id", "user__username", "user__email", "user__is_active"
        )
        rows = [(user_id, "", email, active) for user_id, _name, email, active in rows]
    else:
        rows = Operator.objects.filter(warehouse_id__in={b.warehouse_id for b in batches}).values_list(
            "user_id", "user__username", "user__email", "user__is_active"
        )
        rows = [(user_id, "", email, active) for user_id, _name, email, active in rows]
    return [(user_id, phone, email) for user_id, phone, email, active in rows if active]


def _notice(user_id: int, kind: str, batch_id: int, params: dict) -> Notification:
    """A notice as written: its words in the default language, its params to say it again in any."""
    with translation.override(settings.LANGUAGE_CODE):
        title, body = NOTICE_TEXTS[kind]
        return Notification(
            recipient_id=user_id,
            kind=kind,
            batch_id=batch_id,
            title=(str(title) % params)[:200],
            body=(str(body) % params).strip(),
            params=params,
        )


def _send_serious(notices: list[Notification], batch: Batch) -> None:
    """The serious notices also by SMS (a merchant's phone) and e-mail, each once, after the commit
    (the outbox retries a backend that refuses)."""
    people = {user_id: (phone, email) for user_id, phone, email in _people(MERCHANT, [batch])}
    for notice in notices:
        if notice.kind not in SERIOUS_NOTICES:
            continue
        phone, email = people.get(notice.recipient_id, ("", ""))
        if phone:
            outbox.enqueue(
                "batches.tasks.send_notice_sms", kwargs={"phone": phone, "text": f"{notice.title}。{notice.body}"}
            )
        if email:
            outbox.enqueue(
                "batches.tasks.send_alert_email",
                kwargs={"subject": notice.title, "body": notice.body, "recipients": [email]},
            )
