"""The sign-in lockout (SPEC §4): after SIGNIN_FAILURES_PER_USERNAME failures for one username,
or SIGNIN_FAILURES_PER_ADDRESS from one client address, within SIGNIN_LOCKOUT_MINUTES, every
sign-in for it answers 429 with Retry-After — even with the right password — until the window
has passed or an administrator unlocks it (`manage.py unlock_user`).

django-axes does the work on every entry point that calls `authenticate()` with the request:
the web login page, the admin login and `POST /api/auth/token/`. Its database handler counts the
failures, so all web nodes share one count. axes knows one limit for all of its lockout
parameters; the handler here gives each parameter its own.
"""

import ipaddress
import logging
import math
from datetime import datetime

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)


def signin_address(request: HttpRequest) -> str | None:
    """The client address the per-address limit counts: the same one the public page's throttle
    uses (REMOTE_ADDR, or what our own PUBLIC_VERIFY_TRUSTED_PROXIES proxies saw). Anything that
    is not an IP address falls back to REMOTE_ADDR, so a forged header never reaches the database."""
    from warehouse.public import (
        client_address,  # imported late: settings name this module
    )

    for candidate in (client_address(request), request.META.get("REMOTE_ADDR")):
        try:
            return str(ipaddress.ip_address((candidate or "").strip()))
        except ValueError:
            continue
    return None


def limits() -> dict[str, int]:
    return {"username": settings.SIGNIN_FAILURES_PER_USERNAME, "ip_address": settings.SIGNIN_FAILURES_PER_ADDRESS}


class SignInLockoutHandler(AxesDatabaseHandler):
    """axes' database handler with a limit per lockout parameter (username, address)."""

    def lockout_ends_at(self, request: HttpRequest, credentials: dict | None = None) -> datetime | None:
        """When this sign-in is allowed again, or None if it is allowed now.

        axes keeps one row per (username, address, user agent) with its failure count and the time
        of its last failure; a row stops counting SIGNIN_LOCKOUT_MINUTES after that time. A limit is
        exhausted while the newest rows alone reach it, so the lockout ends when the oldest of
        those rows drops out of the window."""
        AxesProxyHandler.update_request(request)
        values = {"username": get_client_username(request, credentials), "ip_address": request.axes_ip_address}
        window_start = get_cool_off_threshold(request)
        ends = []
        for parameter, limit in limits().items():
            if values[parameter] is None:
                continue
            rows = (
                AccessAttempt.objects.filter(**{parameter: values[parameter]}, attempt_time__gte=window_start)
                .order_by("-attempt_time")
                .values_list("attempt_time", "failures_since_start")
            )
            failures = 0
            for attempt_time, count in rows.iterator():
                failures += count
                if failures >= limit:
                    ends.append(attempt_time + get_cool_off(request))
                    break
        return max(ends, default=None)

    def is_locked(self, request, credentials=None) -> bool:
        return self.lockout_ends_at(request, credentials) is not None

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        # axes' own check compares the larger count with AXES_FAILURE_LIMIT (the larger limit);
        # the username limit is lower and is applied here.
        if request is not None and not request.axes_locked_out and self.is_locked(request, credentials):
            username = get_client_username(request, credentials)
            log.warning(
                "AXES: Locking out username %r / address %s after repeated sign-in failures.",
                username,
                request.axes_ip_address,
            )
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_locked_out.send("axes", request=request, username=username, ip_address=request.axes_ip_address)


def retry_after_seconds(request: HttpRequest, credentials: dict | None = None) -> int:
    ends_at = AxesProxyHandler.get_implementation().lockout_ends_at(request, credentials)
    if ends_at is None:  # unlocked in the meantime: one second is the least a client can wait
        return 1
    return max(1, math.ceil((ends_at - timezone.now()).total_seconds()))


def lockout_message(seconds: int) -> str:
    return _(
        "Too many failed sign-ins: signing in is locked. Try again in %(minutes)s min, "
        "or ask an administrator to unlock it."
    ) % {"minutes": math.ceil(seconds / 60)}


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """The answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE): 429 with Retry-After in seconds;
    the API gets JSON, the login pages show themselves again with the message in words."""
    seconds = retry_after_seconds(request, credentials)
    message = lockout_message(seconds)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message, "code": "signin_locked", "retry_after": seconds}, status=429)
    else:
        response = _login_page(request, message, get_client_username(request, credentials) or "")
    response["Retry-After"] = str(seconds)
    return response


def _login_page(request: HttpRequest, message: str, username: str) -> HttpResponse:
    admin_login = request.path.startswith(reverse("admin:index"))
    form_class = AdminAuthenticationForm if admin_login else AuthenticationForm
    form = form_class(request, initial={"username": username})
    form.cleaned_data = {}  # an unbound form has none, and add_error() needs it
    form.add_error(None, message)
    next_url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    if admin_login:
        context = {
            **admin.site.each_context(request),
            "title": _("Log in"),
            "app_path": request.get_full_path(),
            "form": form,
            "username": "",
            REDIRECT_FIELD_NAME: next_url,
        }
        return render(request, "admin/login.html", context, status=429)
    return render(request, "web/login.html", {"form": form, "next": next_url}, status=429)
