"""Pages every role shares: the batch list, the batch detail with its timeline, and the
actions taken from it (each one form → the API's input serializer → one service)."""

from django.conf import settings
from django.contrib import messages
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from markets.models import MERCHANT_ID_RE

from .. import inputs
from ..actions import REGISTRY, Action, Capability, Style, may, require, spec_of
from ..actors import visible_batches
from ..errors import DomainError, InputError
from ..lifecycle import batch_allowed_actions
from ..models import BatchDocument, CodeStatus, Disinfection, Status
from . import forms as f
from . import writes
from .common import flatten_errors, page, role_page, scoped_batch
from .next_step import next_step, read_facts, withheld
from .presenters import STATUS_TONE, batch_rows, event_rows, rest_info, status_label

# --- list ---------------------------------------------------------------------------------


@role_page()
def batch_list(request):
    actor = request.actor
    batches = visible_batches(actor).select_related("market", "warehouse", "merchant")
    chosen = request.GET.get("status", "")
    search = request.GET.get("q", "").strip()
    counts = dict(visible_batches(actor).values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    if chosen in Status.values:
        batches = batches.filter(status=chosen)
    batches = batches.search(search).order_by("-created_at", "-id")[:200]
    rows = batch_rows(batches)
    statuses = [
        {"value": value, "label": label, "count": counts.get(value, 0)}
        for value, label in Status.choices
        if counts.get(value)
    ]
    return page(
        request,
        "web/batch_list.html",
        {"rows": rows, "statuses": statuses, "chosen": chosen, "search": search},
        active="batches",
    )


# --- detail -------------------------------------------------------------------------------


# The page's form for each kind of input (the form's fields take their limits from the input,
# batches/web/forms.py); a declared action that takes one of these gets its panel by itself.
FORM_OF_INPUT = {
    inputs.ApproveInput: f.ApproveForm,
    inputs.ReasonInput: f.ReasonForm,
    inputs.OptionalReasonInput: f.OptionalReasonForm,
    inputs.DisinfectInput: f.DisinfectForm,
    inputs.SampleInput: f.SampleForm,
    inputs.TestResultInput: f.TestResultForm,
}

# Actions whose panel batch_detail.html places and words by hand; any other declared action
# with a form gets a panel of its own, titled with its declared button.
PLACED_BY_HAND = {
    Action.APPROVE,
    Action.REJECT,
    Action.RETURN,
    Action.ARRIVE,
    Action.DISINFECT,
    Action.SAMPLE,
    Action.TEST_RESULT,
    Action.REDISINFECT,
    Action.DESTROY,
    Action.RECALL,
}

# What the page's plain button sends for an action whose input it does not ask for.
PAGE_INPUT = {Action.RELEASE: {"all": True}}


def initial_values(action: str, batch) -> dict:
    if action == Action.SAMPLE:
        return {"sample_no": f"{batch.number}-S{batch.samples.count() + 1}"}
    if action == Action.TEST_RESULT:
        # The oldest sample still waiting for its result; else the latest one, for a retest.
        samples = batch.samples.filter(cycle=batch.cycle).order_by("taken_at", "id")
        pending = samples.filter(results__isnull=True).values_list("sample_no", flat=True).first()
        return {"sample_no": pending or samples.values_list("sample_no", flat=True).last() or ""}
    return {}


def action_form(action: str, batch, data=None):
    """The form of a declared action (bound to `data` if given), or None for a plain button."""
    spec = spec_of(action)
    if spec.name == Action.ARRIVE:
        return f.arrival_formset(batch, data)
    form_class = FORM_OF_INPUT.get(spec.input)
    if form_class is None:
        return None
    extra = {"batch": batch} if form_class is f.ApproveForm else {}
    if data is None:
        return form_class(prefix=action, initial=initial_values(action, batch), **extra)
    return form_class(data, prefix=action, **extra)


def default_forms(batch, offered) -> dict:
    """An empty form for each action the card offers (the service still decides)."""
    forms = {}
    for name in offered:
        if spec_of(name).style == Style.FORM and (form := action_form(name, batch)) is not None:
            forms[name] = form
    return forms


def batch_context(request, batch, *, bound: dict | None = None) -> dict:
    actor = request.actor
    codes = batch.codes.aggregate(total=Count("id"), **{s: Count("id", filter=Q(status=s)) for s in CodeStatus.values})
    # Shown as information only; `batch_move_to_resting` is what enforces it.
    disinfected = Disinfection.objects.filter(batch=batch, cycle=batch.cycle).exists()
    # What comes next is read from what the guards still need (batches/web/next_step.py): the card
    # offers the role's actions less those a guard would refuse now, and says who acts next and why.
    status = batch.current_status()
    facts = read_facts(batch, status=status, disinfected=disinfected, codes=codes)
    allowed = [name for name in batch_allowed_actions(batch, actor.role) if not withheld(name, facts)] if actor else []
    # A bound form (with its input and errors) stands in for the empty one while its action is offered.
    forms = {**default_forms(batch, allowed), **{name: form for name, form in (bound or {}).items() if name in allowed}}
    lines = list(batch.lines.all())
    buttons = [
        {"action": name, "label": spec_of(name).button, "url": action_url(batch, name)}
        for name in allowed
        if spec_of(name).style == Style.BUTTON
    ]
    panels = [
        {"action": name, "label": spec_of(name).button, "url": action_url(batch, name), "form": form}
        for name, form in forms.items()
        if name not in PLACED_BY_HAND
    ]
    return {
        "batch": batch,
        "status": status_label(batch.current_status()),
        "tone": STATUS_TONE.get(batch.current_status(), ""),
        "rest": rest_info(batch),
        "lines": lines,
        "items": sum(
            (line.received_quantity if line.received_quantity is not None else line.quantity) for line in lines
        ),
        "disinfections": list(batch.disinfections.select_related("performed_by")),
        "samples": list(batch.samples.prefetch_related("results")),
        "disinfected": disinfected,
        "codes": codes,
        "events": event_rows(batch.events.select_related("actor", "warehouse").order_by("id")),
        "allowed": allowed,
        "step": next_step(batch, status=status, role=actor.role if actor else None, facts=facts),
        "forms": forms,
        "buttons": buttons,
        "panels": panels,
        "can_edit": "edit" in allowed,
        "can_release": "release" in allowed and codes["in_warehouse"] > 0,
        "labels_url": f"/api/batches/{batch.number}/labels.pdf"
        if may(actor, Capability.PRINT_LABELS) and codes["total"]
        else "",
        "is_operator": may(actor, Capability.WORK_THE_FLOOR),
        "is_regulator": may(actor, Capability.TRACE),
        # The photo form shrinks a photo to the side the server keeps, unless its EXIF must travel.
        "photo_shrink_to": 0 if settings.ATTACHMENT_KEEP_LOCATION else settings.ATTACHMENT_MAX_SIDE,
        # After a refused POST the page shows at the action's URL; the next form returns to the page it came from.
        "next": back_to(request, batch) if request.method == "POST" else request.get_full_path(),
    }


def action_url(batch, action: str) -> str:
    return reverse("web:batch-action", args=[batch.number, action.replace("_", "-")])


@role_page()
def batch_detail(request, number):
    batch = scoped_batch(request.actor, number)
    return render_batch(request, batch)


def render_batch(request, batch, *, bound=None, status=200, scan_form=None):
    context = batch_context(request, batch, bound=bound)
    if may(request.actor, Capability.WORK_THE_FLOOR):
        context["scan_form"] = scan_form or f.ScanForm()
    return page(
        request,
        "web/batch_detail.html",
        context,
        active="scan" if may(request.actor, Capability.WORK_THE_FLOOR) else "batches",
        status=status,
    )


# --- actions ------------------------------------------------------------------------------


def validated_input(spec, form):
    """Django's field checks, then the action's input serializer, the API's. None on errors."""
    if form is None:
        if spec.input is None:
            return {}
        serializer = spec.input(data=PAGE_INPUT.get(spec.name, {}))
        serializer.is_valid(raise_exception=True)  # the page's fixed input; refused only by a bug
        return dict(serializer.validated_data)
    if isinstance(form, f.ApproveForm):
        return form.validated()
    if not form.is_valid():
        return None
    serializer = spec.input(data=form.cleaned_data)
    if not serializer.is_valid():
        f.apply_errors(form, serializer.errors)
        return None
    return dict(serializer.validated_data)


def validated_arrival(formset, seen_status: str = ""):
    """The arrival check through the API's `ArriveInput`, with the status the form was shown
    with (R7: a check made on an `approved` batch never counts as a re-check). None on errors."""
    if not formset.is_valid():
        return None
    payload = {"lines": [dict(form.cleaned_data) for form in formset.forms]}
    if seen_status:
        payload["status"] = seen_status
    serializer = inputs.ArriveInput(data=payload)
    if not serializer.is_valid():
        formset.non_form_errors().extend(f_error for f_error in _flat(serializer.errors))
        return None
    return {
        "lines": [dict(line) for line in serializer.validated_data["lines"]],
        "seen_status": serializer.validated_data.get("seen_status"),
    }


def _flat(errors):
    return flatten_errors(errors)


def back_to(request, batch) -> str:
    """The page the form came from: a path on this site only (`/...`, never `//host`)."""
    target = request.POST.get("next", "")
    if (
        target.startswith("/")
        and not target.startswith("//")
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    ):
        return target
    if may(request.actor, Capability.WORK_THE_FLOOR):
        return reverse("web:scan") + f"?q={batch.number}"
    return reverse("web:batch-detail", args=[batch.number])


@require_POST
@role_page()
def batch_action(request, number, action):
    """POST /batches/{number}/do/{action}/: 404 outside scope, 403 for the wrong role, the form
    again with its errors on bad input, the reason in words when the state refuses."""
    actor = request.actor
    action = action.replace("-", "_")
    spec = REGISTRY.get(action)
    if spec is None or spec.style == Style.NONE:
        raise Http404
    batch = scoped_batch(actor, number)
    require(actor, action)
    if (replayed := writes.guard(request)) is not None:
        return replayed  # sent before (a lost answer, the device queue's retry): its first result
    if action == Action.ARRIVE:
        formset = action_form(action, batch, request.POST)
        data = validated_arrival(formset, request.POST.get("status", ""))
        bound = {action: formset}
    else:
        form = action_form(action, batch, request.POST)
        bound = {action: form} if form is not None else {}
        data = validated_input(spec, form)
    if data is None:
        if writes.queued(request):
            return writes.refused(request, 400, errors=writes.form_errors(bound.get(action)))
        return render_batch(request, batch, bound=bound, status=400)
    try:
        result, replayed = writes.once(request, lambda: done_result(request, batch, spec, data))
    except DomainError as error:
        if writes.queued(request):
            return writes.refused(request, 409, message=error.detail)
        messages.error(request, error.detail)
        batch.refresh_from_db()  # the page shows the state that refused, not the one the form was shown with
        return render_batch(request, batch, bound=bound, status=409)
    except InputError as error:
        if writes.queued(request):
            return writes.refused(request, 400, errors=_flat(error.errors))
        target = bound.get(action)
        if target is not None and hasattr(target, "add_error"):
            f.apply_errors(target, error.errors)
        else:
            for line in _flat(error.errors):
                messages.error(request, line)
        return render_batch(request, batch, bound=bound, status=400)
    return writes.done(request, result, replayed=replayed, flash=None if replayed else done_flash(result))


def done_result(request, batch, spec, data) -> dict:
    """Take the action; what its record keeps (batches/web/writes.py): no personal data."""
    result = spec.service(batch=batch, actor=request.actor, **data)
    outcome = ""
    if spec.name == Action.ARRIVE:
        batch.refresh_from_db()
        outcome = "discrepancy" if batch.status == Status.DISCREPANCY else ""
    if spec.name == Action.TEST_RESULT and getattr(result, "result", "") == "positive":
        outcome = "positive"
    return {
        "kind": "batch",
        "action": spec.name,
        "number": batch.number,
        "outcome": outcome,
        "at": timezone.now().isoformat(),
        "next": back_to(request, batch),
    }


def done_flash(result: dict) -> tuple:
    number = {"number": result["number"]}
    if result["outcome"] == "discrepancy":
        return messages.WARNING, _(
            "Batch %(number)s does not match its declaration: it waits in pre-storage for a re-check or return."
        ) % number
    if result["outcome"] == "positive":
        text = _("Positive result: batch %(number)s is quarantined and the regulators are alerted.")
        return messages.ERROR, text % number
    return messages.SUCCESS, spec_of(result["action"]).done % number


# --- the reviewer's queue -----------------------------------------------------------------


def current_papers():
    """The number of a batch's papers not superseded, for each row of the queue."""
    papers = BatchDocument.objects.filter(batch=OuterRef("pk"), superseded_by__isnull=True).order_by()
    return Subquery(papers.values("batch").annotate(n=Count("id")).values("n"), output_field=IntegerField())


@role_page(Capability.REVIEW)
def review_queue(request):
    """Submitted batches of the reviewer's market, oldest first (SPEC §4: the approval queue)."""
    actor = request.actor
    batches = (
        visible_batches(actor)
        .filter(status=Status.SUBMITTED)
        .select_related("merchant")
        .annotate(line_count=Count("lines"), paper_count=Coalesce(current_papers(), 0))
        .order_by("status_changed_at", "id")
    )
    merchant = request.GET.get("merchant", "")
    search = request.GET.get("q", "").strip()
    if merchant:
        # A merchant id is ASCII digits that fit the database's bigint; anything else names no one.
        batches = batches.filter(merchant_id=int(merchant)) if MERCHANT_ID_RE.fullmatch(merchant) else batches.none()
    batches = batches.search(search, fields=batches.QUEUE_SEARCH_FIELDS)
    merchants = actor.market.merchants.order_by("stall")
    return page(
        request,
        "web/review_queue.html",
        {
            "batches": batches,
            "merchants": merchants,
            "merchant": merchant,
            "search": search,
        },
        active="queue",
    )
