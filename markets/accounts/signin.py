"""The sign-in lockout (contract §4), made so that it cannot be turned against an account's owner:

- SIGNIN_FAILURES_PER_USERNAME failures for one username **from one address** within
  SIGNIN_LOCKOUT_MINUTES: further sign-ins for that username from that address answer 429 with
  Retry-After — even with the right password — until the window has passed or an administrator
  unlocks it. The owner at another address is not affected.
- SIGNIN_FAILURES_PER_ADDRESS failures from one address, whatever the usernames: that address
  is locked the same way.
- Failures for one username spread over many addresses (SIGNIN_BRAKE_AFTER or more in the window)
  slow its sign-ins instead: an address that has failed for it waits a delay that doubles with
  every further failure (at most SIGNIN_BRAKE_MAX_SECONDS) after the username's last failure.
  An address with no failure for it — the owner's device — signs in at once.

django-axes does the work on every entry point that calls `authenticate()` with the request:
the web login page, the admin login and `POST /api/auth/token/`. Its database handler counts the
failures (one row per username, address and user agent), so all web nodes share one count; the
handler here decides from those rows.
"""

import ipaddress
import logging
import math
from datetime import datetime, timedelta

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
from django.db.models import Max, Sum
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


class SignInLockoutHandler(AxesDatabaseHandler):
    """axes' database handler, deciding with the three rules of this module's docstring."""

    def lockout_ends_at(self, request: HttpRequest, credentials: dict | None = None) -> datetime | None:
        """When this sign-in (this username from this address) is allowed again, or None if it is
        allowed now."""
        AxesProxyHandler.update_request(request)
        username, address = get_client_username(request, credentials), request.axes_ip_address
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        cool_off = get_cool_off(request)
        ends = []
        if address is not None:
            ends.append(
                limit_reached(recent.filter(ip_address=address), settings.SIGNIN_FAILURES_PER_ADDRESS, cool_off)
            )
        if username is not None and address is not None:
            pair = recent.filter(username=username, ip_address=address)
            ends.append(limit_reached(pair, settings.SIGNIN_FAILURES_PER_USERNAME, cool_off))
            ends.append(brake_ends_at(recent.filter(username=username), pair))
        return max((end for end in ends if end is not None), default=None)

    def is_locked(self, request, credentials=None) -> bool:
        return self.lockout_ends_at(request, credentials) is not None

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        # This failure is answered as a wrong password; the next attempt meets the lockout. It is
        # logged once, when this failure is the one that reaches a limit.
        if request is not None and self.is_locked(request, credentials):
            username = get_client_username(request, credentials)
            log.warning(
                "AXES: Locking out username %r / address %s after repeated sign-in failures.",
                username,
                request.axes_ip_address,
            )
            user_locked_out.send("axes", request=request, username=username, ip_address=request.axes_ip_address)


def limit_reached(rows, limit: int, cool_off) -> datetime | None:
    """The end of the lockout if the newest of these attempt rows alone reach `limit` failures:
    when the oldest row needed for that leaves the window."""
    failures = 0
    for attempt_time, count in rows.order_by("-attempt_time").values_list("attempt_time", "failures_since_start"):
        failures += count
        if failures >= limit:
            return attempt_time + cool_off
    return None


def brake_ends_at(username_rows, pair_rows) -> datetime | None:
    """The per-username brake: after SIGNIN_BRAKE_AFTER failures for the username from any
    addresses, an address that has failed for it waits 2^(failures - SIGNIN_BRAKE_AFTER) seconds
    (at most SIGNIN_BRAKE_MAX_SECONDS) after the username's last failure."""
    seen = username_rows.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    failures = seen["failures"] or 0
    if failures < settings.SIGNIN_BRAKE_AFTER or not pair_rows.exists():
        return None
    delay = min(2 ** min(failures - settings.SIGNIN_BRAKE_AFTER, 30), settings.SIGNIN_BRAKE_MAX_SECONDS)
    ends = seen["last"] + timedelta(seconds=delay)
    return ends if ends > timezone.now() else None


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
