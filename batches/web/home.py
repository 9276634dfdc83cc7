"""Sign-in and each role's home page."""

from django.contrib.auth import views as auth_views
from django.db.models import Count
from django.shortcuts import redirect

from ..actors import visible_batches
from ..models import Notification, Status
from .common import MERCHANT, OPERATOR, REGULATOR, REVIEWER, page, role_page
from .field import SignInForm
from .presenters import STATUS_TONE, rest_info, status_label


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm


class LogoutView(auth_views.LogoutView):
    pass


def _rows(batches):
    return [
        {"batch": b, "status": status_label(b.status), "tone": STATUS_TONE.get(b.status, ""), "rest": rest_info(b)}
        for b in batches
    ]


@role_page()
def home(request):
    actor = request.actor
    if actor is None:
        return page(request, "web/home_none.html", active="home")
    if actor.role == OPERATOR:
        return redirect("web:scan")
    if actor.role == REGULATOR:
        from .regulator import dashboard

        return dashboard(request)
    batches = visible_batches(actor).select_related("merchant", "warehouse")
    counts = dict(batches.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    notices = Notification.objects.filter(recipient=actor.user).select_related("batch")[:5]
    if actor.role == MERCHANT:
        return page(
            request,
            "web/home_merchant.html",
            {
                "attention": _rows(
                    batches.filter(status__in=(Status.DRAFT, Status.REJECTED)).order_by("-updated_at")[:10]
                ),
                "resting": _rows(
                    batches.filter(status__in=(Status.RESTING, Status.REST_COMPLETE)).order_by("rest_until")
                ),
                "recent": _rows(batches.order_by("-status_changed_at")[:5]),
                "counts": [
                    {"label": label, "value": value, "count": counts.get(value, 0)}
                    for value, label in Status.choices
                    if counts.get(value)
                ],
                "notices": notices,
            },
            active="home",
        )
    if actor.role == REVIEWER:
        waiting = batches.filter(status=Status.SUBMITTED).order_by("status_changed_at", "id")
        return page(
            request,
            "web/home_reviewer.html",
            {
                "waiting": _rows(waiting[:5]),
                "waiting_count": waiting.count(),
                "counts": [
                    {"label": label, "value": value, "count": counts.get(value, 0)}
                    for value, label in Status.choices
                    if counts.get(value)
                ],
                "notices": notices,
            },
            active="home",
        )
    return page(request, "web/home_none.html", active="home")
