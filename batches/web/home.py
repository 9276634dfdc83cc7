"""Sign-in and each role's home page."""

from django.contrib.auth import views as auth_views
from django.db.models import Count
from django.shortcuts import redirect

from ..actors import visible_batches
from ..models import Notification, Status
from .common import MERCHANT, OPERATOR, REVIEWER, page, role_page
from .field import SignInForm
from .presenters import batch_rows


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm


class LogoutView(auth_views.LogoutView):
    pass


@role_page()
def home(request):
    actor = request.actor
    if actor is None:
        return page(request, "web/home_none.html", active="home")
    if actor.role == OPERATOR:
        return redirect("web:scan")
    batches = visible_batches(actor).select_related("merchant", "warehouse")
    counts = dict(batches.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    # Newest first, unread marked; the serious ones are also banners (batches/web/context.py).
    notices = Notification.objects.filter(recipient=actor.user).select_related("batch")[:5]
    unread = Notification.objects.filter(recipient=actor.user, read_at__isnull=True).count()
    if actor.role == MERCHANT:
        return page(
            request,
            "web/home_merchant.html",
            {
                "attention": batch_rows(
                    batches.filter(status__in=(Status.DRAFT, Status.REJECTED)).order_by("-updated_at")[:10]
                ),
                "resting": batch_rows(
                    batches.filter(status__in=(Status.RESTING, Status.REST_COMPLETE)).order_by("rest_until")
                ),
                "recent": batch_rows(batches.order_by("-status_changed_at")[:5]),
                "counts": [
                    {"label": label, "value": value, "count": counts.get(value, 0)}
                    for value, label in Status.choices
                    if counts.get(value)
                ],
                "notices": notices,
                "unread_notices": unread,
            },
            active="home",
        )
    if actor.role == REVIEWER:
        waiting = batches.filter(status=Status.SUBMITTED).order_by("status_changed_at", "id")
        return page(
            request,
            "web/home_reviewer.html",
            {
                "waiting": batch_rows(waiting[:5]),
                "waiting_count": waiting.count(),
                "counts": [
                    {"label": label, "value": value, "count": counts.get(value, 0)}
                    for value, label in Status.choices
                    if counts.get(value)
                ],
                "notices": notices,
                "unread_notices": unread,
            },
            active="home",
        )
    return page(request, "web/home_none.html", active="home")
