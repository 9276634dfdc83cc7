"""What every signed-in page shows whatever the view: the serious notices, as banners at the top
of the page (docs/web.md "Notices and banners"). A seal is told from the seal itself: a banner
naming every batch of the merchant's with a seal in force, until the regulator lifts it. A recall
is told by its notice: a banner naming every recalled batch until the merchant acknowledges it."""

from ..models import Notification, Seal


def serious_notices(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith("/api/"):
        return {}
    seals = list(
        Seal.objects.filter(lifted_at__isnull=True, batch__merchant__user=user)
        .select_related("batch")
        .order_by("batch__number")
    )
    recalls = list(
        Notification.objects.filter(recipient=user, kind="recall", read_at__isnull=True).select_related("batch")[:20]
    )
    return {"seals_in_force": seals, "recall_notices": recalls}
