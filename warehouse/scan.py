"""What a scanned value is, for the person who scanned it (SPEC §4 `GET /api/scan/{value}/`).

A scanner reads a pallet label (the batch number) or an item's label (its QR: a `/c/` URL or
a GS1 Digital Link; or the token typed by hand). Only what the caller may see is found.
"""

from django.db.models import Count, Q
from django.utils import timezone

from batches.actions import Capability, may
from batches.actors import Actor, visible_batches, visible_codes
from batches.codes import codes_for_scans
from batches.lifecycle import batch_allowed_actions
from batches.models import Batch, Code, CodeStatus, Status
from batches.shapes import BatchSummary, LineOutput

from .selectors import qr_url


def scan_result(value: str, actor: Actor) -> dict | None:
    """`{kind, batch, code, allowed_actions}` for the caller, or None if the value names
    nothing in the caller's scope."""
    value = value.strip()
    batches = visible_batches(actor).select_related("market", "warehouse", "merchant")
    batch = batches.filter(number__in={value, value.upper()}).first()
    if batch is not None:
        return {
            "kind": "batch",
            "batch": batch_facts(batch),
            "code": None,
            "allowed_actions": batch_allowed_actions(batch, actor.role),
        }
    code = codes_for_scans([value], queryset=visible_codes(actor))[value]
    if code is None:
        return None
    batch = batches.get(pk=code.batch_id)
    code.batch = batch
    return {
        "kind": "code",
        "batch": batch_facts(batch),
        "code": code_facts(code),
        "allowed_actions": code_actions(code, actor),
    }


def batch_facts(batch: Batch) -> dict:
    counts = batch.codes.aggregate(total=Count("id"), **{s: Count("id", filter=Q(status=s)) for s in CodeStatus.values})
    return {**BatchSummary(batch).data, "lines": LineOutput(batch.lines.all(), many=True).data, "codes": counts}


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
