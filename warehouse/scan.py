"""What a scanned value is, for the person who scanned it (SPEC §4 `GET /api/scan/{value}/`).

A scanner reads a pallet label (the batch number) or an item's label (its QR: a `/c/` URL or
a GS1 Digital Link; or the token typed by hand). Only what the caller may see is found.
"""

from django.utils import timezone

from batches.actions import Capability, may
from batches.actors import Actor, batch_scope, visible_codes
from batches.codes import codes_for_refs, parse_code_scan
from batches.lifecycle import batch_allowed_actions
from batches.models import Batch, Code, CodeStatus, Status
from batches.shapes import (
    BATCH_LINES,
    code_count_annotations,
    code_counts,
    line_output,
    summary_output,
)
from config.compiled import ScopedQuery

from .selectors import qr_url

# A scan is the crew's and the stall's most frequent request: its look-ups are compiled once
# (config/compiled.py) and scoped with the very lookup visible_batches uses (batch_scope).
# Placeholders: values no real call passes (tokens and numbers never contain a NUL).
_TOKEN, _NUMBER, _NUMBER_UPPER = "\x00token", "\x00number", "\x00NUMBER"
_CODE_BY_TOKEN = ScopedQuery(
    Code,
    lambda scope, token: (
        Code.objects.select_related("line", "batch__market", "batch__warehouse", "batch__merchant")
        .annotate(**code_count_annotations("batch_id"))
        .filter(token=token, **scope)
    ),
    via="batch__",
    token=_TOKEN,
)
_BATCH_BY_NUMBER = ScopedQuery(
    Batch,
    lambda scope, number, upper: (
        Batch.objects.select_related("market", "warehouse", "merchant")
        .annotate(**code_count_annotations())
        .filter(number__in=[number, upper], **scope)[:1]
    ),
    number=_NUMBER,
    upper=_NUMBER_UPPER,
)


def scan_result(value: str, actor: Actor) -> dict | None:
    """`{kind, batch, code, allowed_actions}` for the caller, or None if the value names
    nothing in the caller's scope.

    A value that reads as a code (a token, a `/c/` URL, a Digital Link) is looked up as one;
    anything else as a batch number. The two never overlap: a batch number has dashes
    (`MKT-A-20261129-0007`), a token none, and a URL is no batch number."""
    value = value.strip()
    scope = batch_scope(actor)
    if scope is None:
        return None
    ref = parse_code_scan(value)
    if ref is None:
        found = _BATCH_BY_NUMBER(scope, number=value, upper=value.upper())
        if not found:
            return None
        batch = found[0]
        return {
            "kind": "batch",
            "batch": batch_facts(batch, counts=code_counts(batch)),
            "code": None,
            "allowed_actions": batch_allowed_actions(batch, actor.role),
        }
    if ref.token:
        found = _CODE_BY_TOKEN(scope, token=ref.token)
        code = found[0] if found else None
    else:  # a Digital Link: the whole (gtin, lot, serial) triple must be right
        queryset = visible_codes(actor).annotate(**code_count_annotations("batch_id"))
        queryset = queryset.select_related("batch__market", "batch__warehouse", "batch__merchant")
        code = codes_for_refs({"scan": ref}, queryset=queryset)["scan"]
    if code is None:
        return None
    return {
        "kind": "code",
        "batch": batch_facts(code.batch, counts=code_counts(code)),
        "code": code_facts(code),
        "allowed_actions": code_actions(code, actor),
    }


def batch_facts(batch: Batch, *, counts: dict) -> dict:
    """The batch's summary (BatchSummary's fields), lines and code counts per status (`batch`
    with market, warehouse and merchant selected along)."""
    lines = [line_output(line) for line in BATCH_LINES(batch=batch.pk)]
    return {**summary_output(batch), "lines": lines, "codes": counts}


def code_facts(code: Code) -> dict:
    return {
        "token": code.token,
        "serial": code.serial,
        "item_no": code.item_no,
        "status": code.status,
        "status_display": code.get_status_display(),
        "url": qr_url(code),
        "line": {
            "id": code.line_id,
            "product_name": code.line.product_name,
            "specification": code.line.specification,
            "gtin": code.line.gtin,
        },
        # Shown in Asia/Shanghai like every time of the API (R8), not as UTC `Z`.
        "issued_at": _local(code.issued_at),
        "released_at": _local(code.released_at),
    }


def _local(moment) -> str | None:
    return timezone.localtime(moment).isoformat() if moment else None


def code_actions(code: Code, actor: Actor) -> list[str]:
    """What the caller may do with this item now: the crew releases a code still in the
    warehouse of a coded batch; the merchant sells a released code (R4)."""
    batch = code.batch
    if code.status == CodeStatus.IN_WAREHOUSE and "release" in batch_allowed_actions(batch, actor.role):
        return ["release"]
    if (
        may(actor, Capability.SELL)
        and code.status == CodeStatus.RELEASED
        and batch.status != Status.RECALLED
        and batch.merchant_id == actor.merchant.pk
    ):
        return ["sell"]
    return []
