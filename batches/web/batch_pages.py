"""Pages every role shares: the batch list, the batch detail with its timeline, and the
actions taken from it (each one form → the API's input serializer → one service)."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from .. import services
from ..actors import visible_batches
from ..api import serializers as api
from ..api import views as api_views
from ..errors import DomainError, InputError
from ..lifecycle import batch_allowed_actions
from ..models import CodeStatus, Disinfection, Status
from . import forms as f
from .common import OPERATOR, REGULATOR, REVIEWER, page, require_action, role_page, scoped_batch
from .presenters import ACTION_BUTTONS, STATUS_TONE, event_rows, rest_info, status_label

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
    if search:
        batches = batches.filter(
            Q(number__icontains=search)
            | Q(customs_declaration_no__icontains=search)
            | Q(merchant__name__icontains=search)
            | Q(lines__product_name__icontains=search)
        ).distinct()
    batches = batches.order_by("-created_at", "-id")[:200]
    rows = [
        {"batch": b, "status": status_label(b.status), "tone": STATUS_TONE.get(b.status, ""), "rest": rest_info(b)}
        for b in batches
    ]
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


def default_forms(batch, actor) -> dict:
    """An empty form for each action the actor's role may take now (the service still decides)."""
    allowed = batch_allowed_actions(batch, actor.role) if actor else []
    forms = {}
    if "approve" in allowed:
        forms["approve"] = f.ApproveForm(batch=batch, prefix="approve")
    for name in ("reject", "redisinfect", "destroy", "recall"):
        if name in allowed:
            forms[name] = f.ReasonForm(prefix=name)
    if "return" in allowed:
        forms["return"] = f.OptionalReasonForm(prefix="return")
    if "arrive" in allowed:
        forms["arrive"] = f.arrival_formset(batch)
    if "disinfect" in allowed:
        forms["disinfect"] = f.DisinfectForm(prefix="disinfect")
    if "sample" in allowed:
        forms["sample"] = f.SampleForm(
            prefix="sample", initial={"sample_no": f"{batch.number}-S{batch.samples.count() + 1}"}
        )
    if "test_result" in allowed:
        pending = [s.sample_no for s in batch.samples.filter(cycle=batch.cycle, results__isnull=True)]
        forms["test_result"] = f.TestResultForm(
            prefix="test_result", initial={"sample_no": pending[0] if pending else ""}
        )
    return forms


def batch_context(request, batch, *, bound: dict | None = None) -> dict:
    actor = request.actor
    allowed = batch_allowed_actions(batch, actor.role) if actor else []
    # A bound form (with its input and errors) stands in for the empty one while its action is allowed.
    forms = {**default_forms(batch, actor), **{name: form for name, form in (bound or {}).items() if name in allowed}}
    lines = list(batch.lines.all())
    codes = batch.codes.aggregate(total=Count("id"), **{s: Count("id", filter=Q(status=s)) for s in CodeStatus.values})
    # Shown as information only; `batch_move_to_resting` is what enforces it.
    disinfected = Disinfection.objects.filter(batch=batch, cycle=batch.cycle).exists()
    buttons = [
        {"action": name, "label": ACTION_BUTTONS[name], "url": action_url(batch, name)}
        for name in allowed
        if name in ("submit", "revise", "move_to_resting", "move_to_storage", "issue_codes")
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
        "forms": forms,
        "buttons": buttons,
        "can_edit": "edit" in allowed,
        "can_release": "release" in allowed and codes["in_warehouse"] > 0,
        "labels_url": f"/api/batches/{batch.number}/labels.pdf"
        if actor and actor.role == OPERATOR and codes["total"]
        else "",
        "is_operator": actor is not None and actor.role == OPERATOR,
        "is_regulator": actor is not None and actor.role == REGULATOR,
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
    if request.actor.role == OPERATOR:
        context["scan_form"] = scan_form or f.ScanForm()
    return page(
        request,
        "web/batch_detail.html",
        context,
        active="scan" if request.actor.role == OPERATOR else "batches",
        status=status,
    )


# --- actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebAction:
    form: Callable | None  # (data, batch) -> bound form, or None for a plain button
    serializer: type | None  # the API's input serializer for the same action
    perform: Callable  # (batch, actor, data) -> anything; the API view's own service where they agree
    done: str


def _form(cls, prefix):
    return lambda data, batch: cls(data, prefix=prefix)


ACTIONS = {
    "submit": WebAction(
        None, None, api_views.SubmitView.service, gettext_lazy("Batch %(number)s was submitted for review.")
    ),
    "revise": WebAction(
        None,
        None,
        api_views.ReviseView.service,
        gettext_lazy("Batch %(number)s is a draft again: correct it and submit."),
    ),
    "approve": WebAction(
        lambda data, batch: f.ApproveForm(data, batch=batch, prefix="approve"),
        None,
        api_views.ApproveView.service,
        gettext_lazy("Batch %(number)s was approved."),
    ),
    "reject": WebAction(
        _form(f.ReasonForm, "reject"),
        api.ReasonInput,
        api_views.RejectView.service,
        gettext_lazy("Batch %(number)s was rejected; the merchant sees the reason."),
    ),
    "return": WebAction(
        _form(f.OptionalReasonForm, "return"),
        api.OptionalReasonInput,
        api_views.ReturnView.service,
        gettext_lazy("Batch %(number)s was returned."),
    ),
    "disinfect": WebAction(
        _form(f.DisinfectForm, "disinfect"),
        api.DisinfectInput,
        api_views.DisinfectView.service,
        gettext_lazy("Disinfection of batch %(number)s recorded."),
    ),
    "move_to_resting": WebAction(
        None, None, api_views.MoveToRestingView.service, gettext_lazy("Batch %(number)s is in the resting zone.")
    ),
    "sample": WebAction(
        _form(f.SampleForm, "sample"),
        api.SampleInput,
        api_views.SampleView.service,
        gettext_lazy("Sample of batch %(number)s recorded."),
    ),
    "test_result": WebAction(
        _form(f.TestResultForm, "test_result"),
        api.TestResultInput,
        api_views.TestResultView.service,
        gettext_lazy("Test result of batch %(number)s recorded."),
    ),
    "move_to_storage": WebAction(
        None, None, api_views.MoveToStorageView.service, gettext_lazy("Batch %(number)s moved to storage.")
    ),
    "issue_codes": WebAction(
        None, None, api_views.IssueCodesView.service, gettext_lazy("Codes issued for batch %(number)s.")
    ),
    "release": WebAction(
        None,
        None,
        lambda b, a, d: services.batch_release(batch=b, actor=a, release_all=True),
        gettext_lazy("Every code of batch %(number)s left the warehouse."),
    ),
    "redisinfect": WebAction(
        _form(f.ReasonForm, "redisinfect"),
        api.ReasonInput,
        api_views.RedisinfectView.service,
        gettext_lazy("Batch %(number)s goes back to pre-storage for a new disinfection."),
    ),
    "destroy": WebAction(
        _form(f.ReasonForm, "destroy"),
        api.ReasonInput,
        api_views.DestroyView.service,
        gettext_lazy("Batch %(number)s is recorded as destroyed."),
    ),
    "recall": WebAction(
        _form(f.ReasonForm, "recall"),
        api.ReasonInput,
        lambda b, a, d: services.batch_recall(batch=b, actor=a, **d),
        gettext_lazy("Batch %(number)s was recalled."),
    ),
}


def validated_input(spec: WebAction, form):
    """Django's field checks, then the API's serializer for the same action. None on errors."""
    if form is None:
        return {}
    if isinstance(form, f.ApproveForm):
        return form.validated()
    if not form.is_valid():
        return None
    if spec.serializer is None:
        return dict(form.cleaned_data)
    serializer = spec.serializer(data=form.cleaned_data)
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
    serializer = api.ArriveInput(data=payload)
    if not serializer.is_valid():
        formset.non_form_errors().extend(f_error for f_error in _flat(serializer.errors))
        return None
    return {
        "lines": [dict(line) for line in serializer.validated_data["lines"]],
        "seen_status": serializer.validated_data.get("status"),
    }


def _flat(errors):
    from .common import flatten_errors

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
    if request.actor.role == OPERATOR:
        return reverse("web:scan") + f"?q={batch.number}"
    return reverse("web:batch-detail", args=[batch.number])


@require_POST
@role_page()
def batch_action(request, number, action):
    """POST /batches/{number}/do/{action}/: 404 outside scope, 403 for the wrong role, the form
    again with its errors on bad input, the reason in words when the state refuses."""
    actor = request.actor
    action = action.replace("-", "_")
    spec = ACTIONS.get(action)
    if spec is None and action != "arrive":
        raise Http404
    batch = scoped_batch(actor, number)
    require_action(actor, action)
    if action == "recall":
        from . import regulator

        return regulator.recall(request, batch, spec)
    if action == "arrive":
        formset = f.arrival_formset(batch, request.POST)
        arrival = validated_arrival(formset, request.POST.get("status", ""))
        bound = {"arrive": formset}
        if arrival is None:
            return render_batch(request, batch, bound=bound, status=400)
        perform = lambda: services.batch_arrive(batch=batch, actor=actor, **arrival)  # noqa: E731
    else:
        form = spec.form(request.POST, batch) if spec.form else None
        bound = {action: form} if form is not None else {}
        data = validated_input(spec, form)
        if data is None:
            return render_batch(request, batch, bound=bound, status=400)
        perform = lambda: spec.perform(batch, actor, data)  # noqa: E731
    try:
        result = perform()
    except DomainError as error:
        messages.error(request, error.detail)
        batch.refresh_from_db()  # the page shows the state that refused, not the one the form was shown with
        return render_batch(request, batch, bound=bound, status=409)
    except InputError as error:
        target = bound.get(action)
        if target is not None and hasattr(target, "add_error"):
            f.apply_errors(target, error.errors)
        else:
            for line in _flat(error.errors):
                messages.error(request, line)
        return render_batch(request, batch, bound=bound, status=400)
    if action == "arrive":
        batch.refresh_from_db()
        if batch.status == Status.DISCREPANCY:
            messages.warning(
                request,
                _("Batch %(number)s does not match its declaration: it waits in pre-storage for a re-check or return.")
                % {"number": batch.number},
            )
            return HttpResponseRedirect(back_to(request, batch))
        messages.success(
            request, _("Batch %(number)s matches its declaration and is in pre-storage.") % {"number": batch.number}
        )
        return HttpResponseRedirect(back_to(request, batch))
    if action == "test_result" and getattr(result, "result", "") == "positive":
        messages.error(
            request,
            _("Positive result: batch %(number)s is quarantined and the regulators are alerted.")
            % {"number": batch.number},
        )
        return HttpResponseRedirect(back_to(request, batch))
    messages.success(request, spec.done % {"number": batch.number})
    return HttpResponseRedirect(back_to(request, batch))


# --- the reviewer's queue -----------------------------------------------------------------

MERCHANT_ID_RE = re.compile(r"[0-9]{1,18}")


@role_page(REVIEWER)
def review_queue(request):
    """Submitted batches of the reviewer's market, oldest first (SPEC §4: the approval queue)."""
    actor = request.actor
    batches = (
        visible_batches(actor)
        .filter(status=Status.SUBMITTED)
        .select_related("merchant")
        .annotate(line_count=Count("lines"))
        .order_by("status_changed_at", "id")
    )
    merchant = request.GET.get("merchant", "")
    search = request.GET.get("q", "").strip()
    if merchant:
        # A merchant id is ASCII digits that fit the database's bigint; anything else names no one.
        batches = batches.filter(merchant_id=int(merchant)) if MERCHANT_ID_RE.fullmatch(merchant) else batches.none()
    if search:
        batches = batches.filter(
            Q(number__icontains=search)
            | Q(customs_declaration_no__icontains=search)
            | Q(lines__product_name__icontains=search)
            | Q(origin_country__icontains=search)
        ).distinct()
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
