"""Django's own 403, 404 and 500 answers. Web pages get a page in the interface's language with
its header and menu (batches/web/field.py). Under /api/ they are JSON: a client of the API reads
the same `{"detail"}` body whether the URL matched no route or the view found no object. An
unreachable database is not a server error: 503 with Retry-After (config/outage.py)."""

import sys

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

from config.outage import is_database_unavailable, unavailable_response

from . import field


def page_not_found(request, exception):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return field.not_found(request, exception)


def server_error(request):
    exception = sys.exc_info()[1]  # Django calls this handler while it handles the exception
    if is_database_unavailable(exception):
        return unavailable_response(request, exception)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Server error.")}, status=500)
    return field.server_error(request)


def permission_denied(request, exception):
    """A Django view's 403 (DRF answers its own): the page in the interface's language."""
    if request.path.startswith("/api/"):
        return defaults.permission_denied(request, exception)
    return field.forbidden(request, exception)
