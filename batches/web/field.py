"""Small pages and endpoints for work in the field: error pages in the interface's language
with its header and menu, the CSRF-failure page (an expired session), the acknowledgement of a
recall notice, and the tiny "has anything changed?" answers the batch card and the zone board
poll to stay live (docs/web.md)."""

import hashlib

from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Count, Max
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from config.replica import pin_to_primary
from markets.districts import board_warehouse

from ..actions import Capability, may
from ..actors import actor_for, visible_batches
from ..models import Notification
from .common import page, role_page, scoped_batch


class SignInForm(AuthenticationForm):
    """Django's sign-in form with a refusal in plain words."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy("The user name or the password is wrong. Check both and try again."),
    }


# --- error pages ----------------------------------------------------------------------------


def error_page(request, status: int, title: str, text: str, *, sign_in: bool = False, retry: bool = False):
    """The page with the role's menu; without it if even that fails (a 500 may mean the
    database is gone), so an error page never errors."""
    context = {
        "status": status,
        "title": title,
        "text": text,
        "sign_in": sign_in,
        "retry": retry,
        "next": request.get_full_path(),
    }
    try:
        return page(request, "web/error.html", context, status=status)
    except Exception:
        return HttpResponse(render_to_string("web/error.html", {**context, "bare": True}), status=status)


def forbidden(request, exception=None):
    return error_page(
        request,
        403,
        _("Not for your role"),
        _("This page is not for your role. Go back to your home page to find what you can do."),
    )


def not_found(request, exception=None):
    return error_page(
        request,
        404,
        _("Page not found"),
        _("There is no such page, or it is outside what you may see. Check the number and scan again."),
    )


def server_error(request):
    return error_page(
        request,
        500,
        _("Something went wrong"),
        _("The system could not finish this. Nothing was half done; try again in a moment."),
        retry=True,
    )


def csrf_failure(request, reason=""):
    """Django's CSRF refusal (settings.CSRF_FAILURE_VIEW). After the session expired the form's
    token is no longer good: the person signs in again and gets back to the same form, where the
    browser puts back what was scanned and typed (app.js keeps it in sessionStorage)."""
    signed_in = request.user.is_authenticated
    if signed_in:
        title = _("The form was out of date")
        text = _("Open the page again and send it once more. What you scanned and typed is kept on this device.")
    else:
        title = _("Your session has expired")
        text = _("Sign in again to carry on. What you scanned and typed is kept on this device.")
    return error_page(request, 403, title, text, sign_in=not signed_in, retry=signed_in)


# --- recall notices -------------------------------------------------------------------------


@require_POST
@role_page()
def notice_ack(request, notice_id):
    """The recall banner's "I have read this": marks the notice read, and the others the banner
    named (`also`), of the same person only."""
    mine = Notification.objects.filter(recipient=request.user)
    notice = get_object_or_404(mine, pk=notice_id)
    also = [int(value) for value in request.POST.getlist("also") if value.isdigit() and len(value) < 16][:100]
    mine.filter(pk__in=[notice.pk, *also], read_at__isnull=True).update(read_at=timezone.now())
    pin_to_primary(request.user.pk)  # the next page's banner must not come back from a lagging replica
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)


# --- live status ----------------------------------------------------------------------------


def _stamp(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


@require_GET
def live_batch(request, number):
    """A stamp of what the batch card shows (status, rest, codes): the card reloads when it
    changes (another scanner acted, the rest sweep ran)."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": _("Sign in again.")}, status=401)
    batch = scoped_batch(actor_for(request.user), number, related=())
    codes = sorted(batch.codes.values_list("status").annotate(n=Count("id")))
    return JsonResponse({"stamp": _stamp(batch.status, batch.updated_at.isoformat(), batch.rest_until, codes)})


@require_GET
def live_board(request):
    if not request.user.is_authenticated:
        return JsonResponse({"detail": _("Sign in again.")}, status=401)
    actor = actor_for(request.user)
    if not may(actor, Capability.SEE_ZONE_BOARD):  # the board's own check (warehouse/web/pages.py)
        return JsonResponse({"detail": _("This page is not for your role.")}, status=403)
    warehouse = board_warehouse(actor, request.GET.get("warehouse", ""))  # as the board itself
    batches = visible_batches(actor).filter(warehouse=warehouse)
    facts = batches.aggregate(n=Count("id"), last=Max("updated_at"))
    statuses = sorted(batches.values_list("status").annotate(n=Count("id")))
    return JsonResponse({"stamp": _stamp(facts["n"], facts["last"], statuses)})
