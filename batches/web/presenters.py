"""How batches, events and countdowns read on a page (no rules here, only words)."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..actions import action_label
from ..models import AttachmentKind, DocumentKind, Status, TestResult
from ..services import rest_left_text

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
        "left": rest_left_text(left, ticking=True) if left.total_seconds() > 0 else "",
        "done": left.total_seconds() <= 0,
    }


def batch_rows(batches, now=None) -> list[dict]:
    """Batches as the lists and boards show them: status in words, its tone, the countdown."""
    now = now or timezone.now()
    return [
        {"batch": b, "status": status_label(b.status), "tone": STATUS_TONE.get(b.status, ""), "rest": rest_info(b, now)}
        for b in batches
    ]


def detail_value(key: str, value):
    """One detail of an event as a person reads it: results in words, times in Asia/Shanghai."""
    if key == "result":
        return TestResult.Outcome(value).label if value in TestResult.Outcome.values else value
    if key == "kind":
        if value in DocumentKind.values:  # a paper of the declaration
            return DocumentKind(value).label
        return AttachmentKind(value).label if value in AttachmentKind.values else value
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
            "label": action_label(event.action),
            "before": status_label(event.status_before) if event.status_before else "",
            "after": status_label(event.status_after) if event.status_after else "",
            "changed": event.status_before != event.status_after,
            "details": event_details(event.details),
        }
        for event in events
    ]


DETAIL_LABELS.update({"kind": _("Shows"), "note": _("Note"), "incident": _("Incident")})
HIDDEN_DETAILS = (*HIDDEN_DETAILS, "attachment", "sha256", "event")
HIDDEN_DETAILS = (*HIDDEN_DETAILS, "document", "supersedes")  # the papers card shows them
