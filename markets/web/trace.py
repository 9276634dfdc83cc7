"""The regulator's trace: search by code, batch number, merchant or buyer phone, and the whole
chain of a code or a batch, a merchant's sales with exports.

Everything is read through `markets.selectors` (scoped to the district) and every look-up is
recorded with `markets.services.trace_query_record`, as the trace API does (docs/contract.md §5).
"""

from datetime import date, datetime, time, timedelta

from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from batches.actions import Capability
from batches.actors import regulator_reads
from batches.models import CodeStatus
from batches.web.common import page, role_page
from batches.web.presenters import STATUS_TONE, action_label, event_details, status_label
from markets import selectors
from markets.models import BuyerKind, TraceQueryKind
from markets.services import code_trace_recorded, trace_query_record

BUYER_KINDS = dict(BuyerKind.choices)


def _when(value):
    parsed = parse_datetime(value) if isinstance(value, str) else value
    return timezone.localtime(parsed) if parsed else None


def _events(rows: list[dict]) -> list[dict]:
    """The selectors' events (SPEC §4 Event shape) in words for the page."""
    shown = []
    for row in rows:
        details = event_details(row.get("details") or {})
        shown.append(
            {
                **row,
                "label": action_label(row["action"]),
                "when": _when(row["at"]),
                "before": status_label(row["status_before"]) if row["status_before"] else "",
                "after": status_label(row["status_after"]) if row["status_after"] else "",
                "changed": row["status_before"] != row["status_after"],
                "details": details,
                # an evidence photo's id, for its thumbnail (batches.attachments)
                "attachment": (row.get("details") or {}).get("attachment") if row["action"] == "attach" else None,
            }
        )
    return shown


def _sale(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {
        **row,
        "when": _when(row["sold_at"]),
        "kind": BUYER_KINDS.get(row["buyer_kind"], row["buyer_kind"]),
        "voided_when": _when(row.get("voided_at")),
    }


@role_page(Capability.TRACE)
@regulator_reads
def trace(request):
    """One search box: a code (token or QR URL) opens its chain, a batch number its trace;
    otherwise the matches of each kind are listed.

    The search is a POST (with CSRF) answered with the results: what is searched for, often a
    buyer's phone, never goes into a URL, a browser history, a proxy log or a Referer."""
    actor = request.actor
    q = request.POST.get("q", "").strip() if request.method == "POST" else ""
    found = None
    if q:
        if len(q) < 2 or len(q) > 300:
            return page(
                request,
                "web/trace.html",
                {"q": q, "error": _("Enter 2 to 300 characters.")},
                active="trace",
                status=400,
            )
        found = selectors.trace_search(actor=actor, q=q)
        trace_query_record(
            actor=actor, kind=TraceQueryKind.SEARCH, subject=q, result_count=sum(len(rows) for rows in found.values())
        )
        if len(found["codes"]) == 1 and not found["sales"]:
            return redirect("web:trace-code", found["codes"][0]["token"])
        exact = [b for b in found["batches"] if b["number"].upper() == q.upper()]
        if exact and not found["codes"]:
            return redirect("web:trace-batch", exact[0]["number"])
        for row in found["batches"]:
            row["status_label"] = status_label(row["status"])
            row["tone"] = STATUS_TONE.get(row["status"], "")
        found["sales"] = [_sale(row) for row in found["sales"]]
    return page(
        request,
        "web/trace.html",
        {"q": q, "found": found, "nothing": found is not None and not any(found.values())},
        active="trace",
    )


@role_page(Capability.TRACE)
@regulator_reads
def trace_code(request, token):
    actor = request.actor
    chain = code_trace_recorded(actor=actor, token=token)
    if chain is None:
        raise Http404
    code = chain["code"]
    return page(
        request,
        "web/trace_code.html",
        {
            "chain": chain,
            "code": code,
            "code_status": CodeStatus(code["status"]).label,
            "batch": chain["batch"],
            "batch_status": status_label(chain["batch"]["status"]),
            "tone": STATUS_TONE.get(chain["batch"]["status"], ""),
            "events": _events(chain["events"]),
            "sale": _sale(chain["sale"]),
            "voided": [_sale(row) for row in chain["voided_sales"]],
        },
        active="trace",
    )


@role_page(Capability.TRACE)
@regulator_reads
def trace_batch(request, number):
    actor = request.actor
    batch = selectors.batch_for_trace(actor=actor, number=number)
    if batch is None:
        trace_query_record(actor=actor, kind=TraceQueryKind.BATCH, subject=number, found=False)
        raise Http404
    result = selectors.batch_trace(actor=actor, batch=batch)
    trace_query_record(
        actor=actor, kind=TraceQueryKind.BATCH, subject=batch.number, result_count=result["counts"]["buyers"]
    )
    buyers = [
        {
            **row,
            "kind": BUYER_KINDS.get(row["buyer_kind"], row["buyer_kind"]),
            "first": _when(row["first_sold_at"]),
            "last": _when(row["last_sold_at"]),
        }
        for row in result["buyers"]
    ]
    return page(
        request,
        "web/trace_batch.html",
        {
            "batch": batch,
            "status": status_label(batch.status),
            "tone": STATUS_TONE.get(batch.status, ""),
            "counts": result["counts"],
            "buyers": buyers,
            "events": _events(result["timeline"]),
            "merchant": result["merchant"],
        },
        active="trace",
    )


# Days whose local midnight, and the next one, are times in UTC as well (no overflow at the ends).
FIRST_DAY, LAST_DAY = date.min + timedelta(days=1), date.max - timedelta(days=1)
NO_SALES = {"totals": {"codes": 0, "sales": 0, "buyers": 0, "voided_sales": 0}, "by_product": []}


def _day(value: str) -> date | None:
    """A local day from `YYYY-MM-DD`; ValueError for anything else (2024-02-30, 9999-12-31)."""
    day = parse_date(value)  # raises ValueError itself for a well-formed day that does not exist
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(value)
    return day


def _period(request):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD (local days, `to` inclusive) → [start, end) in time, and
    an error text (then no period) when a given date is not a real day the system can hold."""
    try:
        start_day, end_day = [
            _day(value) if value else None for value in (request.GET.get("from", ""), request.GET.get("to", ""))
        ]
    except ValueError:
        return None, None, None, None, _("Enter the period as real calendar dates (YYYY-MM-DD).")
    start = timezone.make_aware(datetime.combine(start_day, time.min)) if start_day else None
    end = timezone.make_aware(datetime.combine(end_day + timedelta(days=1), time.min)) if end_day else None
    return start_day, end_day, start, end, ""


@role_page(Capability.TRACE)
@regulator_reads
def merchant_sales(request, merchant_id):
    actor = request.actor
    merchant = selectors.merchant_for_trace(actor=actor, merchant_id=merchant_id)
    if merchant is None:
        trace_query_record(actor=actor, kind=TraceQueryKind.MERCHANT_SALES, subject=str(merchant_id), found=False)
        raise Http404
    start_day, end_day, start, end, period_error = _period(request)
    if period_error:  # nothing is looked up for a period that cannot be read
        summary, sales = NO_SALES, []
    else:
        summary = selectors.merchant_sales_summary(merchant=merchant, start=start, end=end)
        sales = [
            _sale(selectors.sale_output(sale, actor))
            for sale in selectors.merchant_sales(merchant=merchant, start=start, end=end)[:200]
        ]
        period = {"from": selectors.local_iso(start), "to": selectors.local_iso(end)}
        trace_query_record(
            actor=actor,
            kind=TraceQueryKind.MERCHANT_SALES,
            subject=str(merchant.pk),
            parameters=period,
            result_count=summary["totals"]["codes"],
        )
    # The exports are the trace API's own (`?format=csv|xlsx`), with the same period.
    api = f"/api/trace/merchants/{merchant.pk}/sales/"
    query = "&".join(
        f"{name}={value}"
        for name, value in (("from", request.GET.get("from", "")), ("to", request.GET.get("to", "")))
        if value
    )
    return page(
        request,
        "web/trace_merchant.html",
        {
            "merchant": merchant,
            "summary": summary,
            "sales": sales,
            "start_day": start_day,
            "end_day": end_day,
            "csv_url": f"{api}?format=csv" + (f"&{query}" if query else ""),
            "xlsx_url": f"{api}?format=xlsx" + (f"&{query}" if query else ""),
            "self_url": reverse("web:trace-merchant", args=[merchant.pk]),
            "period_error": period_error,
        },
        active="trace",
        status=400 if period_error else 200,
    )
