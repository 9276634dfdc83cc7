"""The regulator's pages: the district dashboard, alerts, recall and quarantine decisions."""

from datetime import datetime, time, timedelta

from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from batches.actions import Action, Capability, require, spec_of
from batches.actors import in_district, regulator_reads, visible_batches
from batches.errors import DomainError
from batches.incidents import visible_incidents
from batches.models import IncidentState, Notification, Status
from batches.web import forms as f
from batches.web.batch_pages import render_batch, validated_input
from batches.web.common import page, role_page, scoped_batch
from batches.web.presenters import STATUS_TONE, batch_rows, status_label
from config.replica import pin_to_primary
from markets.districts import narrowed, visible_districts, visible_markets, visible_warehouses
from warehouse.models import ZoneKind
from warehouse.occupancy import zone_occupancy

from ..models import SaleItem
from ..services import batch_recall_with_buyers
from .trace import BUYER_KINDS, _when

CHART_COLOURS = ["#1f6feb", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c", "#5c940d"]


@role_page(Capability.SEE_DASHBOARD)
@regulator_reads
def dashboard(request):
    """The district at a glance: occupancy, rests ending today and overdue, quarantined batches,
    positive-result alerts and sales per market per day. A city-level regulator sees every
    district, a row of figures per district, and `?district=CODE` narrows the page to one."""
    actor = narrowed(request.actor, request.GET.get("district"))
    now = timezone.now()
    today = timezone.localdate(now)
    start_of_today = timezone.make_aware(datetime.combine(today, time.min))
    start_of_tomorrow = start_of_today + timedelta(days=1)
    batches = visible_batches(actor).select_related("market", "warehouse", "merchant")
    in_rest = batches.filter(status__in=(Status.RESTING, Status.REST_COMPLETE)).order_by("rest_until")
    due_today = in_rest.filter(rest_until__gte=start_of_today, rest_until__lt=start_of_tomorrow)
    overdue = in_rest.filter(rest_until__lt=start_of_today)
    quarantined = batches.filter(status=Status.QUARANTINED).order_by("status_changed_at")
    alerts = Notification.objects.filter(recipient=actor.user, batch__in=batches).select_related("batch")[:10]
    unread = Notification.objects.filter(recipient=actor.user, read_at__isnull=True).count()
    return page(
        request,
        "web/dashboard.html",
        {
            "warehouses": occupancy_rows(actor),
            "due_today": batch_rows(due_today, now),
            "overdue": batch_rows(overdue, now),
            "quarantined": batch_rows(quarantined, now),
            "alerts": alerts,
            "unread": unread,
            "chart": sales_chart(actor, today=today),
            "today": today,
            "districts": district_rows(request.actor, batches=batches, now=now, start_of_today=start_of_today)
            if request.actor.city_level
            else [],
            "district_choices": list(visible_districts(request.actor)) if request.actor.city_level else [],
            "district": request.GET.get("district", ""),
            "incidents": open_incidents(actor),
        },
        active="home",
    )


def open_incidents(actor) -> list:
    """Open incidents within reach, newest first (batches.incidents)."""

    return list(visible_incidents(actor).filter(state=IncidentState.OPEN).order_by("-opened_at")[:20])


def district_rows(actor, *, batches, now, start_of_today) -> list[dict]:
    """Per-district figures for a city-level regulator: batches in rest, overdue, quarantined,
    and codes sold today, each district one row (two grouped queries)."""
    from django.db.models import Q

    from markets.models import SaleItem

    counts = {
        row["market__district_id"]: row
        for row in batches.values("market__district_id").annotate(
            resting=Count("id", filter=Q(status__in=(Status.RESTING, Status.REST_COMPLETE))),
            overdue=Count(
                "id", filter=Q(status__in=(Status.RESTING, Status.REST_COMPLETE), rest_until__lt=start_of_today)
            ),
            quarantined=Count("id", filter=Q(status=Status.QUARANTINED)),
        )
    }
    sold = dict(
        SaleItem.objects.filter(voided=False, sale__voided_at__isnull=True, sale__sold_at__gte=start_of_today)
        .values_list("sale__merchant__market__district_id")
        .annotate(n=Count("id"))
        .values_list("sale__merchant__market__district_id", "n")
    )
    rows = []
    for district in visible_districts(actor):
        row = counts.get(district.pk, {})
        rows.append(
            {
                "district": district,
                "resting": row.get("resting", 0),
                "overdue": row.get("overdue", 0),
                "quarantined": row.get("quarantined", 0),
                "sold_today": sold.get(district.pk, 0),
            }
        )
    return rows


def occupancy_rows(actor) -> list[dict]:
    warehouses = list(visible_warehouses(actor).prefetch_related("zones", "markets"))
    occupancy = zone_occupancy([w.pk for w in warehouses])
    rows = []
    for warehouse in warehouses:
        load = occupancy.get(warehouse.pk, {})
        capacity = {zone.kind: zone.capacity_items for zone in warehouse.zones.all()}
        zones = []
        for kind, label in ZoneKind.choices:
            numbers = load.get(kind, {"batches": 0, "items": 0})
            cap = capacity.get(kind)
            zones.append(
                {
                    "kind": kind,
                    "label": label,
                    "batches": numbers["batches"],
                    "items": numbers["items"],
                    "capacity": cap,
                    "percent": min(100, round(100 * numbers["items"] / cap)) if cap else None,
                }
            )
        rows.append(
            {"warehouse": warehouse, "zones": zones, "markets": ", ".join(m.code for m in warehouse.markets.all())}
        )
    return rows


def sales_chart(actor, *, today, days: int = 7) -> dict:
    """Codes sold per market per day over the last `days` days, laid out as SVG bars here on
    the server (no chart library). Voided sales do not count."""
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    markets = list(visible_markets(actor).order_by("code"))
    counts = (
        SaleItem.objects.filter(
            in_district(actor, "sale__merchant__market__district_id"),
            voided=False,
            sale__voided_at__isnull=True,
            sale__sold_at__gte=since,
        )
        .annotate(day=TruncDate("sale__sold_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "sale__merchant__market_id")
        .annotate(n=Count("id"))
    )
    table = {(row["day"], row["sale__merchant__market_id"]): row["n"] for row in counts}
    day_list = [first + timedelta(days=i) for i in range(days)]
    peak = max(table.values(), default=0)
    scale_top = max(peak, 1)
    width, height, left, bottom, top = 640, 240, 40, 30, 16
    plot_w, plot_h = width - left - 10, height - bottom - top
    group_w = plot_w / days
    bar_w = max(3.0, (group_w - 8) / max(len(markets), 1))
    bars = []
    for d_index, day in enumerate(day_list):
        for m_index, market in enumerate(markets):
            value = table.get((day, market.pk), 0)
            h = plot_h * value / scale_top
            bars.append(
                {
                    "x": round(left + d_index * group_w + 4 + m_index * bar_w, 1),
                    "y": round(top + plot_h - h, 1),
                    "w": round(bar_w - 1, 1),
                    "h": round(h, 1),
                    "value": value,
                    "market": market.code,
                    "colour": CHART_COLOURS[m_index % len(CHART_COLOURS)],
                    "day": day,
                }
            )
    ticks = sorted({0, scale_top, (scale_top + 1) // 2})
    return {
        "width": width,
        "height": height,
        "bars": bars,
        "total": sum(table.values()),
        "days": [
            {"x": round(left + i * group_w + group_w / 2, 1), "label": day.strftime("%m-%d"), "date": day}
            for i, day in enumerate(day_list)
        ],
        "ticks": [{"y": round(top + plot_h - plot_h * t / scale_top, 1), "value": t} for t in ticks],
        "axis_y": top + plot_h,
        "left": left,
        "right": width - 10,
        "legend": [
            {
                "market": m,
                "colour": CHART_COLOURS[i % len(CHART_COLOURS)],
                "total": sum(table.get((d, m.pk), 0) for d in day_list),
            }
            for i, m in enumerate(markets)
        ],
        "rows": [{"day": day, "values": [table.get((day, m.pk), 0) for m in markets]} for day in day_list],
        "markets": markets,
    }


@role_page(Capability.SEE_ALERTS)
def notifications(request):
    """Every role's notices, newest first, unread ones marked (docs/web.md "Notices and banners")."""
    mine = Notification.objects.filter(recipient=request.actor.user)
    items = mine.select_related("batch")[:100]
    unread = mine.filter(read_at__isnull=True).count()
    return page(request, "web/notifications.html", {"items": items, "unread_notices": unread}, active="alerts")


@require_POST
@role_page(Capability.SEE_ALERTS)
def notifications_read(request):
    # Read marks are the reader's own bookkeeping, not part of the batch record (R6 untouched).
    Notification.objects.filter(recipient=request.actor.user, read_at__isnull=True).update(read_at=timezone.now())
    # No event is written for this, so the read-your-writes pin is set here: the dashboard's
    # unread count must not come back from a lagging replica.
    pin_to_primary(request.actor.user_id)
    messages.success(request, _("All alerts are marked as read."))
    return redirect("web:notifications")


@require_POST
@role_page()
def recall_page(request, number):
    """POST /batches/{number}/do/recall/ (the batch action's own path, routed here: the recall
    page shows the buyers, a markets surface): 404 outside scope, then 403 for the wrong role,
    as `batch_action` does."""
    batch = scoped_batch(request.actor, number)
    require(request.actor, Action.RECALL)
    return recall(request, batch, spec_of(Action.RECALL))


@transaction.atomic
def recall(request, batch, spec):
    """Recall (regulator): `batch_recall_with_buyers`, as the API's; then the buyers to contact. One transaction:
    the recall, the buyer list and the record of that look-up commit together or not at all."""
    form = f.ReasonForm(request.POST, prefix="recall")
    data = validated_input(spec, form)
    if data is None:
        return render_batch(request, batch, bound={"recall": form}, status=400)
    try:
        found = batch_recall_with_buyers(batch=batch, actor=request.actor, reason=data["reason"])
    except DomainError as error:
        messages.error(request, error.detail)
        return render_batch(request, batch, bound={"recall": form}, status=409)
    messages.success(request, spec.done % {"number": batch.number})
    batch.refresh_from_db()
    buyers = [
        {**row, "when": _when(row["sold_at"]), "kind_label": BUYER_KINDS.get(row["buyer_kind"], row["buyer_kind"])}
        for row in found
    ]
    return page(
        request,
        "web/recall_done.html",
        {
            "batch": batch,
            "buyers": buyers,
            "status": status_label(batch.status),
            "tone": STATUS_TONE.get(batch.status, ""),
        },
        active="batches",
    )
