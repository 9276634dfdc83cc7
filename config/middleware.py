"""Chinese first: the interface speaks zh-hans unless the person chose otherwise; and no NUL
character reaches a view."""

import contextlib

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from django.http import HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation import gettext as _


def chosen_language(request) -> str | None:
    """`?lang=en` on any page, else the language cookie set by the switch (/i18n/setlang/)."""
    for candidate in (request.GET.get("lang"), request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)):
        if candidate:
            try:
                return translation.get_supported_language_variant(candidate)
            except LookupError:
                continue
    return None


def api_client_language(request) -> str | None:
    """An API client of its own (a token, a partner system: no web session) is answered in the
    language its `Accept-Language` asks for, when that is one the system speaks. The pages' own
    calls to the API carry the session and speak the page's language, whatever the browser's."""
    if not request.path.startswith("/api/") or settings.SESSION_COOKIE_NAME in request.COOKIES:
        return None
    for accepted, _quality in translation.trans_real.parse_accept_lang_header(
        request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    ):
        if accepted == "*":
            return None
        try:
            return translation.get_supported_language_variant(accepted)
        except LookupError:
            continue
    return None


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    """Like Django's LocaleMiddleware, but the browser's Accept-Language is not followed:
    warehouse handhelds and market stalls often run English-language browsers, and the people
    using them read Chinese. The English switch sets the cookie; `?lang=` works for links. API
    clients without a web session are the exception (`api_client_language`)."""

    def process_request(self, request):
        language = chosen_language(request) or api_client_language(request) or settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        response = super().process_response(request, response)
        asked = request.GET.get("lang")
        if asked and chosen_language(request) and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != asked:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                request.LANGUAGE_CODE,
                samesite="Lax",
                max_age=settings.LANGUAGE_COOKIE_AGE,
            )
        return response


class RejectNullCharactersMiddleware:
    """400 for a NUL character in the path or in any query or form value: PostgreSQL cannot
    store or compare one, so it must never reach a query (a JSON body's strings are refused by
    the serializers' fields)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_null(request):
            detail = str(ProhibitNullCharactersValidator.message)
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": detail, "code": "null_character"}, status=400)
            return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_null(request) -> bool:
    if "\x00" in request.path:
        return True
    sources = [request.GET]
    if request.method == "POST" and request.content_type in FORM_TYPES:
        # A malformed form is the view's to answer, as it would have been.
        with contextlib.suppress(MultiPartParserError):
            sources.append(request.POST)
    for data in sources:
        for key, values in data.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return True
    return False


class RefuseUnknownQueryParametersMiddleware:
    """400 for a query parameter an API endpoint does not document: a misspelt filter would
    otherwise be ignored silently and answer a list the caller did not ask for. The documented
    ones come from the OpenAPI schema (filters, pagination, `extend_schema` parameters), so a
    new endpoint declares its parameters once, where its documentation does.

    A documented parameter given without a value (`?page=`, `?state=`, `?district=`) is a 400
    too: OpenAPI's `allowEmptyValue` is false unless the schema says otherwise, and an empty
    filter would otherwise silently mean "no filter" or "page 1". Leave the parameter out.

    It runs before the view, so it answers before authentication: the schema is public and
    an unknown name reveals nothing about any object."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.GET or not request.path.startswith("/api/") or request.resolver_match is None:
            return None
        from .openapi import documented_query_parameters

        allowed = documented_query_parameters(request.resolver_match.route, request.method)
        if allowed is None:
            return None
        unknown = sorted(set(request.GET) - allowed)
        if unknown:
            message = str(
                _("This endpoint does not take this query parameter (it takes: %(allowed)s).")
                % {"allowed": "、".join(sorted(allowed)) or "—"}
            )
            return JsonResponse({name: [message] for name in unknown}, status=400)
        empty = sorted(name for name, values in request.GET.lists() if "" in values)
        if empty:
            message = str(_("This query parameter needs a value; leave it out to not use it."))
            return JsonResponse({name: [message] for name in empty}, status=400)
        return None
