"""The merchant's pages: declare a batch, edit a draft, submit (SPEC §1.1)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .. import services
from ..actions import Action, Capability
from ..countries import picker
from ..errors import DomainError, InputError
from ..lifecycle import allowed_actions, invalid_transition
from ..ports import port_names
from . import forms as f
from .common import page, role_page, scoped_batch


@role_page(Capability.DECLARE)
def declare(request):
    """Declare a batch: header fields and goods lines; saved as a draft, or submitted at once."""
    actor = request.actor
    form = f.DeclarationForm(request.POST or None)
    lines = f.LineFormSet(request.POST or None, prefix="lines")
    if request.method == "POST":
        data = f.validate_declaration(actor=actor, form=form, lines=lines, market_code=actor.market.code)
        if data is not None:
            batch = services.batch_declare(actor=actor, **data)
            return _after_save(request, batch)
    return page(
        request,
        "web/declare.html",
        {"form": form, "lines": lines, "market": actor.market, **pickers()},
        active="declare",
        status=400 if form.errors or lines.total_error_count() else 200,
    )


@role_page(Action.EDIT)
def edit(request, number):
    """Edit a draft (the service refuses any other state: 409); the lines given replace the old
    ones. The form is not shown for a batch that is no longer a draft: back to its page."""
    actor = request.actor
    batch = scoped_batch(actor, number)
    refused = None
    if request.method != "POST" and "edit" not in allowed_actions(batch.status, actor.role):
        messages.error(request, invalid_transition(batch, "edit", actor.role).detail)
        return redirect("web:batch-detail", batch.number)
    if request.method == "POST":
        form = f.DeclarationForm(request.POST)
        lines = f.LineFormSet(request.POST, prefix="lines")
        data = f.validate_declaration(actor=actor, form=form, lines=lines, market_code=None, edit=True)
        if data is not None:
            new_lines = data.pop("lines", None)
            try:
                services.batch_edit(batch=batch, actor=actor, fields=data, lines=new_lines)
            except DomainError as error:
                messages.error(request, error.detail)
                refused = 409
            except InputError as error:
                f.apply_errors(form, error.errors)
            else:
                return _after_save(request, batch)
    else:
        form = f.DeclarationForm(initial=f.DeclarationForm.initial_of(batch))
        lines = f.LineFormSet(
            prefix="lines",
            initial=[{name: getattr(line, name) for name in f.LineForm.base_fields} for line in batch.lines.all()],
        )
    return page(
        request,
        "web/declare.html",
        {"form": form, "lines": lines, "market": actor.market, "batch": batch, **pickers()},
        active="batches",
        status=refused or (400 if request.method == "POST" else 200),
    )


def pickers() -> dict:
    """The lists the declaration form offers: countries by name, ports of entry."""
    return {"countries": picker(), "ports": port_names()}


def _after_save(request, batch):
    """'Save as draft' keeps the draft; 'Submit' also submits it through the submit service."""
    if request.POST.get("then") == "submit":
        try:
            services.batch_submit(batch=batch, actor=request.actor)
        except DomainError as error:
            messages.error(request, error.detail)
        else:
            messages.success(
                request, _("Batch %(number)s was saved and submitted for review.") % {"number": batch.number}
            )
            return redirect("web:batch-detail", batch.number)
    messages.success(request, _("Batch %(number)s was saved as a draft.") % {"number": batch.number})
    return redirect("web:batch-detail", batch.number)
