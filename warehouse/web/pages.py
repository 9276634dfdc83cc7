"""The warehouse crew's pages: one scan box, the zone board, release by scanning.

A handheld scanner types what it reads and presses Enter; the scan box resolves a batch number
(pallet label), a code token or a full QR URL to the batch card with its next actions.
"""

from django.contrib import messages
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from batches import services
from batches.actions import Action, Capability
from batches.actors import visible_batches
from batches.errors import DomainError, InputError
from batches.models import Status
from batches.web import forms as f
from batches.web import writes
from batches.web.batch_pages import render_batch
from batches.web.common import page, role_page, scoped_batch
from batches.web.presenters import STATUS_TONE, batch_rows, status_label
from markets.districts import board_warehouse

from ..models import ZoneKind
from ..occupancy import zone_occupancy
from ..scan import scan_result


def resolve_scan(actor, value: str):
    """(batch, code facts) for a scanned batch number, code token or QR URL, through the same
    resolver as `GET /api/scan/{value}/` (warehouse.scan); (None, None) outside the scope."""
    value = (value or "").strip()
    found = scan_result(value, actor) if value else None
    if found is None:
        return None, None
    return scoped_batch(actor, found["batch"]["number"]), found["code"]


@role_page(Capability.WORK_THE_FLOOR)
def scan(request):
    form = f.ScanForm(request.GET or None)
    if form.is_bound and form.is_valid():
        batch, code = resolve_scan(request.actor, form.cleaned_data["q"])
        if batch is not None:
            if code is not None:
                messages.info(
                    request,
                    _("Code %(serial)s of batch %(number)s: %(status)s.")
                    % {"serial": code["item_no"], "number": batch.number, "status": code["status_display"]},
                )
            # The card keeps the batch number in the box so that the next action returns here.
            return render_batch(request, batch, scan_form=f.ScanForm(initial={"q": ""}))
        messages.error(
            request, _("Nothing found for “%(value)s” in this warehouse.") % {"value": form.cleaned_data["q"]}
        )
        form = f.ScanForm()
    return page(request, "web/scan.html", {"scan_form": form, "recent": _recent(request.actor)}, active="scan")


def _recent(actor):
    return [
        {"batch": b, "status": status_label(b.status), "tone": STATUS_TONE.get(b.status, "")}
        for b in visible_batches(actor).select_related("merchant").order_by("-status_changed_at")[:8]
    ]


# --- the zone board -------------------------------------------------------------------------

BOARD_COLUMNS = [
    ("expected", (Status.APPROVED,)),
    (ZoneKind.PRE_STORAGE, (Status.PRE_STORAGE, Status.DISCREPANCY)),
    (ZoneKind.RESTING, (Status.RESTING, Status.REST_COMPLETE)),
    (ZoneKind.STORAGE, (Status.STORED, Status.CODED)),
    ("quarantined", (Status.QUARANTINED,)),
]


@role_page(Capability.SEE_ZONE_BOARD)
def zone_board(request):
    """What is where in the warehouse now; resting batches with their countdown to rest_until."""
    actor = request.actor
    warehouse = board_warehouse(actor, request.GET.get("warehouse", ""))
    titles = {
        "expected": _("Expected (approved)"),
        **dict(ZoneKind.choices),
        "quarantined": _("Quarantined"),
    }
    batches = (
        visible_batches(actor)
        .filter(warehouse=warehouse)
        .select_related("merchant")
        .annotate(items=Count("lines"))
        .order_by("rest_until", "status_changed_at")
    )
    occupancy = zone_occupancy([warehouse.pk]).get(warehouse.pk, {})
    now = timezone.now()
    columns = []
    for key, statuses in BOARD_COLUMNS:
        cards = batch_rows([b for b in batches if b.status in statuses], now)
        load = occupancy.get(key, {}) if key in ZoneKind.values else {}
        columns.append(
            {"key": key, "title": titles[key], "cards": cards, "items": load.get("items"), "count": len(cards)}
        )
    return page(request, "web/zone_board.html", {"warehouse": warehouse, "columns": columns}, active="board")


# --- release by scanning ------------------------------------------------------------------


@role_page(Action.RELEASE)
def release_scan(request, number):
    """Scan the codes leaving the warehouse; all-or-nothing through `batch_release`, with the
    problem of each scanned value listed when the service refuses."""
    actor = request.actor
    batch = scoped_batch(actor, number)
    if request.method == "POST" and (replayed := writes.guard(request)) is not None:
        return replayed  # sent before (a lost answer, the queue's retry): its first result
    scanned = []
    problems = {}
    refusal = ""
    if request.method == "POST":
        scanned = [line.strip() for line in request.POST.get("codes", "").splitlines() if line.strip()]
        if not scanned:
            refusal = _("Scan at least one code.")
        else:
            # The service reads the scanned values itself (any form a label carries) and names
            # the problem of each one; the page shows exactly those.
            def release():
                services.batch_release(batch=batch, actor=actor, tokens=scanned)
                return {
                    "kind": "release",
                    "number": batch.number,
                    "count": len(scanned),
                    "at": timezone.now().isoformat(),
                    "next": reverse("web:scan") + f"?q={batch.number}",
                }

            try:
                result, replayed = writes.once(request, release)
            except DomainError as error:
                refusal = error.detail
            except InputError as error:
                per_code = error.errors.get("codes", error.errors) if isinstance(error.errors, dict) else {}
                problems = {value: str(problem) for value, problem in per_code.items()}
            else:
                flash = (
                    messages.SUCCESS,
                    _("%(count)d codes of batch %(number)s left the warehouse.")
                    % {"count": len(scanned), "number": batch.number},
                )
                return writes.done(request, result, replayed=replayed, flash=None if replayed else flash)
            if problems:
                refusal = _("Nothing was released: %(count)d scanned codes have a problem.") % {
                    "count": len([k for k in problems if not k.startswith("_")])
                }
        if writes.queued(request):  # refused: the queue says why
            errors = [f"{value}: {problem}" for value, problem in problems.items()]
            return writes.refused(request, 400 if problems or not scanned else 409, message=refusal, errors=errors)
        messages.error(request, refusal)
    in_warehouse = batch.codes.filter(status="in_warehouse").count()
    status = 400 if problems else 200
    return page(
        request,
        "web/release_scan.html",
        {
            "batch": batch,
            "scanned": scanned,
            "problems": problems,
            "in_warehouse": in_warehouse,
            "status": status_label(batch.status),
            "tone": STATUS_TONE.get(batch.status, ""),
        },
        active="scan",
        status=status,
    )
