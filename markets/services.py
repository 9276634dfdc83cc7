"""Services for sales (SPEC R4) and the regulator's record of trace queries.

Keyword-only, one per action. Views check the caller's scope (404) and role (403) and parse
input (400); these functions check the state of the codes under row locks and write the sale,
the codes' new status and one event per batch concerned (R6) in one transaction.

Lock order, shared with the batch lifecycle so that no two of them deadlock: a sale row (void
only), then the batches by primary key, then their codes by primary key. Recall takes the
batch, then updates its codes; a sale or void of codes of that batch waits for it, or it waits
for them, and whichever comes second sees the other's result.
"""

import hashlib
import hmac
import re
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from batches.actors import Actor, batch_scope
from batches.codes import codes_for_scans, move_codes
from batches.errors import DomainError, InputError
from batches.lifecycle import record_event
from batches.models import Batch, Code, CodeStatus
from batches.models import Status as BatchStatus
from batches.seals import sealed_batch_ids, sealed_error
from batches.services import batch_recall
from config.compiled import CompiledQuery

from .models import Sale, SaleItem, TraceQuery, TraceQueryKind, mask_mobile, normalize_mobile
from .selectors import code_trace, recall_buyers

SALE_MAX_CODES = 10_000


def _problem_messages() -> dict[str, str]:
    return {
        "unknown": _("Unknown code."),
        "duplicate": _("The same code appears twice."),
        CodeStatus.IN_WAREHOUSE: _("This code has not left the warehouse yet: it cannot be sold."),
        CodeStatus.SOLD: _("This code is already sold."),
        CodeStatus.RECALLED: _("The batch is recalled: this code cannot be sold."),
    }


# A sale or a void is most often of one batch: that batch's row lock is one statement whose SQL
# is built once per process (config/compiled.py).
_LOCK_ONE_BATCH = CompiledQuery(Batch, lambda pk: Batch.objects.select_for_update().filter(pk=pk), pk=-901)


def _lock_batches(batch_ids) -> dict[int, Batch]:
    """The row locks of these batches, taken in primary-key order."""
    batch_ids = sorted(batch_ids)
    if len(batch_ids) == 1:
        return {batch.pk: batch for batch in _LOCK_ONE_BATCH(pk=batch_ids[0])}
    return {batch.pk: batch for batch in Batch.objects.select_for_update().filter(pk__in=batch_ids).order_by("pk")}


def _lock_codes(code_ids) -> dict[int, str]:
    """Row locks on the codes, taken in primary-key order; returns each code's status as it is now."""
    return dict(Code.objects.select_for_update().filter(pk__in=code_ids).order_by("pk").values_list("pk", "status"))


def _sale_scans(actor: Actor, scans: list[str], messages: dict) -> tuple[dict, dict, dict]:
    """The codes a sale's scanned values name: (problems by value, codes by id, value by id).
    Only the merchant's own codes are looked up: another merchant's code is answered exactly
    like an unknown one, so selling cannot be used to learn which codes exist (SPEC §4)."""
    scope = batch_scope(actor)
    found = codes_for_scans(scans, scope=scope) if scope is not None else dict.fromkeys(scans)
    problems: dict[str, str] = {}
    chosen: dict[int, Code] = {}
    scanned_as: dict[int, str] = {}
    for value in scans:
        code = found[value]
        if code is None:
            problems[value] = messages["unknown"]
        elif code.pk in chosen:
            problems[value] = messages["duplicate"]
        else:
            chosen[code.pk], scanned_as[code.pk] = code, value
    return problems, chosen, scanned_as


def _status_problems(statuses: dict[int, str], scanned_as: dict[int, str], messages: dict) -> dict[str, str]:
    """The scanned values whose code is not sellable in `statuses` (code id → status)."""
    return {
        scanned_as[pk]: messages.get(status, messages["unknown"])
        for pk, status in statuses.items()
        if status != CodeStatus.RELEASED
    }


def sale_code_problems(*, actor: Actor, scans: list[str]) -> dict[str, str]:
    """Every problem of a sale's scanned values, read without locks, so that a page whose other
    fields were refused says them all at once; `sale_record` checks the same again."""
    messages = _problem_messages()
    problems, chosen, scanned_as = _sale_scans(actor, scans, messages)
    problems.update(_status_problems({pk: code.status for pk, code in chosen.items()}, scanned_as, messages))
    return {value: str(text) for value, text in problems.items()}


class _CodesChanged(Exception):
    """A code was sold, voided or recalled between the sale's first read and its batch locks."""


class _ItemTaken(Exception):
    """A code already has an active sale item (the database's constraint said so)."""


def sale_record(
    *,
    actor: Actor,
    scans: list[str],
    buyer_name: str,
    buyer_phone: str,
    buyer_kind: str,
    buyer_credit_code: str = "",
    now: datetime | None = None,
) -> Sale:
    """A merchant sells one or more codes to one buyer (R4).

    Each code is sold once, only by the merchant it was released to (the batch's merchant),
    only while `released` and not recalled. All or nothing: if any scanned value is unknown
    (another merchant's code counts as unknown), repeated or not sellable, nothing is stored and InputError (400) lists
    the reason per scanned value. `scans` are tokens, `/c/` URLs or Digital Link URIs.

    The statuses read with the codes are checked first; then, in one transaction and under the
    row locks of the codes' batches (which every change of a code's status takes first), the
    codes move from `released` to `sold` in one conditional UPDATE. If one of them was changed
    meanwhile the UPDATE misses it: the transaction is undone and the problems are read again as
    they now are. A unique constraint on the code's active sale item is the last word if two
    sales still meet (R7).
    """
    messages = _problem_messages()
    problems, chosen, scanned_as = _sale_scans(actor, scans, messages)
    problems.update(_status_problems({pk: code.status for pk, code in chosen.items()}, scanned_as, messages))
    if problems:
        raise InputError({"codes": problems})
    buyer = {
        "buyer_name": buyer_name,
        "buyer_phone": normalize_mobile(buyer_phone),
        "buyer_kind": buyer_kind,
        "buyer_credit_code": buyer_credit_code,
    }
    try:
        return _record_sale(actor, chosen, buyer, now or timezone.now())
    except _CodesChanged:  # undone with its transaction: say what the codes are now
        statuses = dict(Code.objects.filter(pk__in=chosen).values_list("pk", "status"))
        problems = _status_problems(statuses, scanned_as, messages)
    except _ItemTaken:
        taken = SaleItem.objects.filter(code_id__in=chosen, voided=False).values_list("code_id", flat=True)
        problems = {scanned_as[pk]: messages[CodeStatus.SOLD] for pk in taken}
    raise InputError({"codes": problems or {"_all": messages[CodeStatus.SOLD]}})


@transaction.atomic
def _record_sale(actor: Actor, chosen: dict[int, Code], buyer: dict, now: datetime) -> Sale:
    batches = _lock_batches({code.batch_id for code in chosen.values()})
    sealed = sealed_batch_ids(batches)  # 409 `sealed` (batches.seals), read under the batches' locks
    for batch in batches.values():
        if batch.pk in sealed:
            raise sealed_error(batch)
    sold = move_codes(chosen, source=CodeStatus.RELEASED, target=CodeStatus.SOLD)
    if sold != len(chosen):
        raise _CodesChanged
    sale = Sale(merchant=actor.merchant, sold_by=actor.user, sold_at=now, **buyer)
    sale.save(force_insert=True)
    try:
        SaleItem.objects.bulk_create([SaleItem(sale=sale, code_id=pk) for pk in sorted(chosen)])
    except IntegrityError:  # leaves the transaction at once: it is rolled back
        raise _ItemTaken from None
    # The answer's codes in the order a read of the sale gives them (by code id), so the API can
    # answer without reading the sale back (markets.selectors.sale_output).
    sale.sold_tokens = [chosen[pk].token for pk in sorted(chosen)]

    for batch in batches.values():
        tokens = [code.token for code in sorted(chosen.values(), key=lambda c: c.item_no) if code.batch_id == batch.pk]
        record_event(
            batch=batch,
            action="sale",
            actor=actor,
            status_before=batch.status,
            status_after=batch.status,
            details={"sale": sale.pk, "count": len(tokens), "codes": tokens},
            at=now,
        )
    return sale


@transaction.atomic
def sale_void(*, actor: Actor, sale: Sale, reason: str, now: datetime | None = None) -> Sale:
    """The merchant voids a sale with a reason (R4): its codes are sellable again (`released`),
    except codes of a batch recalled meanwhile, which become `recalled`. The sale stays on
    record. A sale is voided once; a second void is DomainError `sale_voided` (409)."""
    now = now or timezone.now()
    locked = Sale.objects.select_for_update().get(pk=sale.pk)
    if locked.voided_at is not None:
        raise DomainError(
            "sale_voided",
            _("This sale was already voided."),
            status="voided",
            allowed=[],
        )
    items = list(locked.items.order_by("code__item_no").values_list("code_id", "code__batch_id", "code__token"))
    batches = _lock_batches({batch_id for _pk, batch_id, _token in items})
    _lock_codes([pk for pk, _batch_id, _token in items])
    recalled = {pk for pk, batch in batches.items() if batch.status == BatchStatus.RECALLED}
    code_ids = [pk for pk, _batch_id, _token in items]

    SaleItem.objects.filter(sale=locked).update(voided=True)
    sold = Code.objects.filter(pk__in=code_ids)
    move_codes(sold.exclude(batch_id__in=recalled), source=CodeStatus.SOLD, target=CodeStatus.RELEASED)
    move_codes(sold.filter(batch_id__in=recalled), source=CodeStatus.SOLD, target=CodeStatus.RECALLED)
    Sale.objects.filter(pk=locked.pk).update(voided_at=now, voided_by=actor.user, void_reason=reason)
    locked.voided_at, locked.voided_by, locked.void_reason = now, actor.user, reason

    for batch in batches.values():
        tokens = [token for _pk, batch_id, token in items if batch_id == batch.pk]
        returned_to = CodeStatus.RECALLED if batch.pk in recalled else CodeStatus.RELEASED
        record_event(
            batch=batch,
            action="sale_void",
            actor=actor,
            status_before=batch.status,
            status_after=batch.status,
            at=now,
            details={
                "sale": locked.pk,
                "reason": reason,
                "count": len(tokens),
                "codes": tokens,
                "codes_now": returned_to,
            },
        )
    return locked


# --- the record of trace queries ------------------------------------------------------------

PHONE_IN_TEXT_RE = re.compile(r"(?:\+?86[\s-]?)?1\d{2}[\s-]?\d{4}[\s-]?\d{4}")


def phone_digest(phone: str) -> str:
    """A keyed digest of a phone number: an auditor holding the key can check whether a given
    number was looked up; the record itself does not reveal it."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, normalize_mobile(phone).encode(), hashlib.sha256).hexdigest()[:32]


def redact_phones(text: str) -> tuple[str, list[str]]:
    """Every mobile number in `text` masked (`138****0001`), and the digests of those found."""
    digests = []

    def mask(match):
        digests.append(phone_digest(match.group(0)))
        return mask_mobile(normalize_mobile(match.group(0)))

    return PHONE_IN_TEXT_RE.sub(mask, text or ""), digests


def trace_query_record(
    *,
    actor: Actor,
    kind: str,
    subject: str = "",
    parameters: dict | None = None,
    found: bool = True,
    result_count: int | None = None,
    now: datetime | None = None,
) -> TraceQuery:
    """Who looked up what, when (docs/contract.md §5). Phone numbers in the subject or the parameters
    are stored masked, with their digests, never in full."""
    subject, digests = redact_phones(subject)
    clean = {}
    for name, value in (parameters or {}).items():
        if isinstance(value, str):
            value, found_digests = redact_phones(value)
            digests += found_digests
        clean[name] = value
    if digests:
        clean["phone_digests"] = digests
    return TraceQuery.objects.create(
        user=actor.user,
        role=actor.role,
        kind=kind,
        subject=subject[:200],
        parameters=clean,
        found=found,
        result_count=result_count,
        at=now or timezone.now(),
    )


# --- recall with the buyers to contact --------------------------------------------------------


@transaction.atomic
def batch_recall_with_buyers(*, batch: Batch, actor: Actor, reason: str, now: datetime | None = None) -> list[dict]:
    """The regulator recalls the batch (`batch_recall`, SPEC §3) and gets everyone who bought
    its codes, to contact (SPEC §4); the look-up of the buyers is recorded like every trace
    query (docs/contract.md §5). One transaction: all three commit together or not at all.
    The API's recall and the recall page both call this."""
    batch_recall(batch=batch, actor=actor, reason=reason, now=now)
    buyers = recall_buyers(actor=actor, batch=batch)
    trace_query_record(actor=actor, kind=TraceQueryKind.RECALL, subject=batch.number, result_count=len(buyers), now=now)
    return buyers


def code_trace_recorded(*, actor: Actor, token: str) -> dict | None:
    """The whole chain of one code (markets.selectors.code_trace), or None; the look-up is
    recorded either way (docs/contract.md §5). The API's code trace and the trace page both
    call this."""
    chain = code_trace(actor=actor, token=token)
    if chain is None:
        trace_query_record(actor=actor, kind=TraceQueryKind.CODE, subject=token, found=False)
        return None
    trace_query_record(
        actor=actor,
        kind=TraceQueryKind.CODE,
        subject=chain["code"]["token"],
        parameters={"batch": chain["batch"]["number"]},
        result_count=len(chain["events"]),
    )
    return chain
