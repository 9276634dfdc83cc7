"""The regulator's incident pages: the list, and the incident view with the co-located lots,
seal and lift buttons, the buyers, the notify button and the report link. Same services as
the API (batches.incidents), same scope: 404 outside reach, 403 for another role."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from batches import incidents as svc
from batches.actions import Capability, action_label
from batches.errors import DomainError, InputError
from batches.models import IncidentState
from batches.seals import sealed_batch_ids
from batches.web.common import page, role_page
from batches.web.presenters import STATUS_TONE, status_label


def _incident(request, incident_id):
    return get_object_or_404(svc.visible_incidents(request.actor), pk=incident_id)


@role_page(Capability.HANDLE_INCIDENTS)
def incident_list(request):
    incidents = list(svc.visible_incidents(request.actor).order_by("-opened_at", "-id")[:200])
    return page(request, "web/incident_list.html", {"incidents": incidents}, active="incidents")


@role_page(Capability.HANDLE_INCIDENTS)
def incident_detail(request, incident_id):

    incident = _incident(request, incident_id)
    actor = request.actor
    lots = [
        {
            **lot,
            "status": status_label(lot["batch"].status),
            "tone": STATUS_TONE.get(lot["batch"].status, ""),
            "why": [svc.REASON_LABELS.get(r, r) for r in lot["reasons"]],
        }
        for lot in svc.colocated_lots(incident, actor)
    ]
    buyers = [{**row, "when": timezone.localtime(row["sold_at"])} for row in svc.incident_buyers(incident, actor)]
    timeline = [{"event": e, "label": action_label(e.action)} for e in svc.incident_timeline(incident, actor)]
    return page(
        request,
        "web/incident_detail.html",
        {
            "incident": incident,
            "batch": incident.batch,
            "status": status_label(incident.batch.status),
            "tone": STATUS_TONE.get(incident.batch.status, ""),
            "batch_sealed": bool(sealed_batch_ids([incident.batch_id])),
            "lots": lots,
            "buyers": buyers,
            "contacts": list(incident.contacts.select_related("batch")),
            "timeline": timeline,
            "report_url": reverse("api-incident-report", args=[incident.pk]),
            "is_open": incident.state == IncidentState.OPEN,
        },
        active="incidents",
    )


def _act(request, incident_id, run):
    """Run `run(incident)` (which returns the success message); refusals are said in words."""
    incident = _incident(request, incident_id)
    try:
        done = run(incident)
    except InputError as error:
        for problems in error.errors.values():
            for problem in problems.values() if isinstance(problems, dict) else problems:
                messages.error(request, problem)
    except DomainError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, done)
    return redirect("regulation:incident", incident.pk)


@require_POST
@role_page(Capability.HANDLE_INCIDENTS)
def incident_seal(request, incident_id):
    numbers = request.POST.getlist("batches")
    reason = request.POST.get("reason", "").strip()[:500]

    def run(incident):
        sealed = svc.incident_seal(incident=incident, actor=request.actor, numbers=numbers, reason=reason)
        return _("Sealed: %(numbers)s.") % {"numbers": ", ".join(b.number for b in sealed) or "—"}

    return _act(request, incident_id, run)


@require_POST
@role_page(Capability.HANDLE_INCIDENTS)
def incident_lift_seal(request, incident_id):
    numbers = request.POST.getlist("batches")
    reason = request.POST.get("reason", "").strip()[:500]

    def run(incident):
        lifted = svc.incident_lift_seal(incident=incident, actor=request.actor, numbers=numbers, reason=reason)
        return _("Seal lifted: %(numbers)s.") % {"numbers": ", ".join(b.number for b in lifted)}

    return _act(request, incident_id, run)


@require_POST
@role_page(Capability.HANDLE_INCIDENTS)
def incident_notify(request, incident_id):
    def run(incident):
        told = svc.incident_notify(incident=incident, actor=request.actor)
        return _("%(merchants)d merchants and %(buyers)d buyers were told.") % told

    return _act(request, incident_id, run)
