"""What every signed-in page shows whatever the view: an unacknowledged recall notice of the
merchant's batches, as a red banner above the page until the merchant acknowledges it."""

from ..models import Notification


def recall_notices(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith("/api/"):
        return {}
    notices = list(
        Notification.objects.filter(recipient=user, kind="recall", read_at__isnull=True).select_related("batch")[:5]
    )
    return {"recall_notices": notices}
