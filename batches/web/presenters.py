"""How batches, events and countdowns read on a page (no rules here, only words)."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import Status, TestResult
from .common import format_left

ACTION_LABELS = {
    "declare": _("Declared"),
    "edit": _("Declaration edited"),
    "submit": _("Submitted for review"),
    "approve": _("Approved"),
    "reject": _("Rejected"),
    "revise": _("Reopened for revision"),
    "arrive": _("Arrival check"),
    "return": _("Returned"),
    "disinfect": _("Disinfected"),
    "move_to_resting": _("Moved to the resting zone"),
    "sample": _("Sample taken"),
    "test_result": _("Test result recorded"),
    "complete_rest": _("Rest period complete"),
    "move_to_storage": _("Moved to storage"),
    "issue_codes": _("Codes issued"),
    "release": _("Codes released"),
    "redisinfect": _("Sent back for disinfection"),
    "destroy": _("Destroyed"),
    "recall": _("Recalled"),
    "sale": _("Sold"),
    "sale_void": _("Sale voided"),
}

# Buttons and panels of each action, in the words of the warehouse.
ACTION_BUTTONS = {
    "edit": _("Edit"),
    "submit": _("Submit for review"),
    "approve": _("Approve"),
    "reject": _("Reject"),
    "revise": _("Revise"),
    "arrive": _("Arrival check"),
    "return": _("Return the goods"),
    "disinfect": _("Record disinfection"),
    "move_to_resting": _("Move to resting zone"),
    "sample": _("Record sample"),
    "test_result": _("Record test result"),
    "move_to_storage": _("Move to storage"),
    "issue_codes": _("Issue codes"),
    "release": _("Release"),
    "redisinfect": _("Disinfect again"),
    "destroy": _("Destroy"),
    "recall": _("Recall"),
}

STATUS_TONE = {
    Status.DRAFT: "muted",
    Status.SUBMITTED: "info",
    Status.REJECTED: "warn",
    Status.APPROVED: "info",
    Status.DISCREPANCY: "warn",
    Status.RETURNED: "muted",
    Status.PRE_STORAGE: "info",
    Status.RESTING: "info",
    Status.REST_COMPLETE: "ok",
    Status.QUARANTINED: "danger",
    Status.DESTROYED: "muted",
    Status.STORED: "ok",
    Status.CODED: "ok",
    Status.RELEASED: "ok",
    Status.RECALLED: "danger",
}

RESULT_LABELS = {
    TestResult.Outcome.NEGATIVE: _("Negative"),
    TestResult.Outcome.POSITIVE: _("Positive"),
    TestResult.Outcome.INVALID: _("Invalid"),
}

DETAIL_LABELS = {
    "reason": _("Reason"),
    "warehouse": _("Warehouse"),
    "agent": _("Disinfectant"),
    "concentration": _("Concentration"),
    "method": _("Method"),
    "sample_no": _("Sample no."),
    "lab": _("Laboratory"),
    "result": _("Result"),
    "report_no": _("Report no."),
    "issued": _("Codes issued"),
    "count": _("Count"),
    "rest_until": _("Rest until"),
    "codes_recalled": _("Codes recalled"),
    "codes_sold": _("Codes sold"),
    "lines": _("Lines"),
}


def status_label(status: str) -> str:
    return Status(status).label if status in Status.values else status


def rest_info(batch, now=None) -> dict | None:
    """The rest countdown of a resting batch (R1: rest_until is fixed when the rest starts)."""
    if batch.rest_until is None or batch.status not in (Status.RESTING, Status.REST_COMPLETE):
        return None
    now = now or timezone.now()
    left = batch.rest_until - now
    return {
        "until": batch.rest_until,
        "seconds_left": max(int(left.total_seconds()), 0),
        "left": format_left(left) if left.total_seconds() > 0 else "",
        "done": left.total_seconds() <= 0,
    }


def detail_value(key: str, value):
    """One detail of an event as a person reads it: results in words, times in Asia/Shanghai."""
    if key == "result":
        return RESULT_LABELS.get(value, value)
    if key == "rest_until" and isinstance(value, str):
        from django.utils.dateparse import parse_datetime

        parsed = parse_datetime(value)
        return timezone.localtime(parsed).strftime("%Y-%m-%d %H:%M") if parsed else value
    return value


HIDDEN_DETAILS = ("lines", "mismatches", "codes", "cycle", "by", "changed", "sale", "codes_now")


def event_details(details: dict) -> list[dict]:
    shown = [
        {"label": DETAIL_LABELS.get(key, key), "value": detail_value(key, value)}
        for key, value in (details or {}).items()
        if key not in HIDDEN_DETAILS and not isinstance(value, (list, dict))
    ]
    mismatches = (details or {}).get("mismatches") or []
    if mismatches:
        shown.append({"label": _("Mismatched lines"), "value": len(mismatches)})
    return shown


def event_rows(events) -> list[dict]:
    return [
        {
            "event": event,
            "label": ACTION_LABELS.get(event.action, event.action),
            "before": status_label(event.status_before) if event.status_before else "",
            "after": status_label(event.status_after) if event.status_after else "",
            "changed": event.status_before != event.status_after,
            "details": event_details(event.details),
        }
        for event in events
    ]
