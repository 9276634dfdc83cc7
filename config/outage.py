"""Failure of our own side: a database that cannot be reached answers 503 with `Retry-After`,
never 500 (docs/reliability.md, "Outages").

Django turns whatever the database driver raises into `django.db.OperationalError` (connection
refused or lost, a server shutting down, a timeout) or `InterfaceError` (a connection already
closed). Either one means "try again in a moment", not a fault of the request: the API answers
`{"detail", "code": "service_unavailable"}`, a page says so in the interface's language. The
page is built without the database (no session, no user, no menu), since the database is what
is missing. Nothing needs restarting afterwards: a request that met a broken connection leaves
it closed (Django closes a connection on which an error occurred when the request ends), and
the next request opens a new one.
"""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from .middleware import chosen_language
from .version import VERSION

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30


def is_database_unavailable(exc: BaseException | None) -> bool:
    """The exception, or one it was raised from or while handling, is the database's."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OperationalError | InterfaceError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def unavailable_response(request, exc: BaseException | None = None) -> HttpResponse:
    """503 with Retry-After: JSON under /api/, else a page in the language the person chose
    (the cookie or `?lang=`, as on every page; never the database)."""
    logger.warning("database unavailable for %s %s: %r", request.method, request.path, exc)
    with translation.override(chosen_language(request) or settings.LANGUAGE_CODE):
        detail = _("The system cannot reach its database just now. Nothing was half done; try again in a minute.")
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": detail, "code": "service_unavailable"}, status=503)
        else:
            context = {
                "status": 503,
                "title": _("Unavailable for a moment"),
                "text": detail,
                "retry": True,
                "next": request.get_full_path(),
                "app_version": VERSION,
            }
            response = HttpResponse(render_to_string("web/error.html", context), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view that met an unreachable database answers 503 (this hook), and so does the rest of
    the stack (sessions, sign-in lockout) through the 500 handler (batches.web.errors), which
    asks `is_database_unavailable` of the exception it was called for."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            return unavailable_response(request, exception)
        return None
