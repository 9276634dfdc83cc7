"""What every page shares: who is acting, the role's menu, scoping, and feedback in words.

Order of checks as in SPEC §4: not signed in → the login page; outside the caller's scope →
404; the caller's role may not take the action → 403; bad input → the form again with its
errors; not allowed now → the page again with the reason in words.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from markets.models import District, bureau_name, city_of

from ..actions import require
from ..actors import Actor, actor_for, visible_batches
from ..models import Batch, Notification, Role, Status

MERCHANT, REVIEWER, OPERATOR, REGULATOR = Role.MERCHANT, Role.REVIEWER, Role.OPERATOR, Role.REGULATOR


# --- who is acting --------------------------------------------------------------------------


def role_page(what: str | None = None):
    """A page for signed-in users whose role may do `what`, an action or a capability
    (batches/actions.py; anyone signed in if None): anonymous → login, another role → 403
    (`require`, the API's check). The view receives `request.actor`."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            actor = actor_for(request.user)
            if what is not None:
                require(actor, what)
            request.actor = actor
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def scoped_batch(actor: Actor | None, number: str, *, related=("market", "warehouse", "merchant")) -> Batch:
    """The batch if the actor may see it; 404 otherwise (never reveal that it exists)."""
    return get_object_or_404(visible_batches(actor).select_related(*related), number=number)


# --- the role's menu ------------------------------------------------------------------------


def menu_for(actor: Actor | None) -> list[dict]:
    if actor is None:
        return [{"url": reverse("web:home"), "label": _("Home"), "key": "home"}]
    items = {
        MERCHANT: [
            ("web:home", _("Home"), "home"),
            ("web:declare", _("Declare a batch"), "declare"),
            ("web:batch-list", _("My batches"), "batches"),
            ("web:sale-new", _("Sell by scanning"), "sell"),
            ("web:sale-list", _("My sales"), "sales"),
        ],
        REVIEWER: [
            ("web:home", _("Home"), "home"),
            ("web:review-queue", _("Approval queue"), "queue"),
            ("web:batch-list", _("Market batches"), "batches"),
        ],
        OPERATOR: [
            ("web:scan", _("Scan"), "scan"),
            ("web:zone-board", _("Zone board"), "board"),
            ("web:batch-list", _("Warehouse batches"), "batches"),
            ("web:notifications", _("Notices"), "alerts"),
        ],
        REGULATOR: [
            ("web:home", _("Dashboard"), "home"),
            ("web:trace", _("Trace"), "trace"),
            ("web:batch-list", _("District batches"), "batches"),
            ("web:notifications", _("Alerts"), "alerts"),
        ],
    }.get(actor.role, [("web:home", _("Home"), "home")])
    menu = [{"url": reverse(name), "label": label, "key": key} for name, label, key in items]
    if actor.role == REVIEWER:
        waiting = visible_batches(actor).filter(status=Status.SUBMITTED).count()
        menu[1]["badge"] = waiting
    # Unread notices: on the tab that lists them (the alerts page, or the home page's card).
    unread = Notification.objects.filter(recipient=actor.user, read_at__isnull=True).count()
    if unread:
        keys = [item["key"] for item in menu]
        item = menu[keys.index("alerts" if "alerts" in keys else "home")]
        item["badge"], item["badge_label"] = unread, ngettext("%d unread notice", "%d unread notices", unread) % unread
    return menu


def page(request, template: str, context: dict | None = None, *, active: str = "", status: int = 200):
    """Render a page with the role's menu around it."""
    actor = getattr(request, "actor", None) or actor_for(request.user)
    base = {
        "actor": actor,
        "role_name": Role(actor.role).label if actor else "",
        "organisation": organisation_of(actor),
        "menu": menu_for(actor),
        "active": active,
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def organisation_of(actor: Actor | None) -> str:
    if actor is None:
        return ""
    if actor.merchant is not None:
        # the person is named beside it; their business and stall here
        return f"{actor.merchant.name} · {actor.merchant.stall}"
    if actor.market is not None:
        return actor.market.name
    if actor.warehouse is not None:
        return actor.warehouse.name
    return regulator_organisation(actor)


def regulator_organisation(actor: Actor) -> str:
    """A regulator's bureau: their district's (杭州市上城区市场监督管理局), or for a city-level one
    the city's, named after the city the districts' names begin with (杭州市市场监督管理局).
    One small query."""
    if actor.city_level:
        return bureau_name(city=city_of(District.objects.values_list("name", flat=True)[:500]))
    district = District.objects.filter(pk=actor.district_id).values_list("name", flat=True).first()
    return bureau_name(district=district or "")


# --- feedback in words ----------------------------------------------------------------------


def flatten_errors(errors) -> list[str]:
    """An InputError's dict (or list) as lines a person can read: 'field: problem'."""
    lines = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            for text in flatten_errors(value):
                lines.append(text if key in ("non_field_errors", "__all__", "_duplicates") else f"{key}: {text}")
    elif isinstance(errors, (list, tuple)):
        for value in errors:
            lines.extend(flatten_errors(value))
    elif errors:
        lines.append(str(errors))
    return lines
