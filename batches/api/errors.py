"""One handler turns domain errors into the SPEC §4 bodies; everything else is DRF's, with a
400 always an object of field errors (the shape the schema documents).

Every error speaks the interface's language (config.middleware) and never names a model or
quotes a parser: Django's `get_object_or_404` says "No Batch matches the given query." in
English, and a JSON parser's message quotes Python's; both are replaced by words of our own."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import DomainError, InputError
from .parsers import too_large

# DRF's parsers say what went wrong in English, quoting Python's exception (untranslated).
DRF_PARSER_MESSAGES = ("JSON parse error", "Multipart form parse error")


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_body(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, InputError):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()  # 「未找到。」 / "Not found.": what is hidden is not named either
    elif isinstance(exc, RequestDataTooBig):  # DRF 3.18 reads request.body before the parser
        request = context.get("request")
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        exc = too_large(length, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    elif isinstance(exc, exceptions.ParseError) and str(exc.detail).startswith(DRF_PARSER_MESSAGES):
        exc = exceptions.ParseError(_("The request body could not be read: send well-formed JSON or form data."))
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == 400 and isinstance(response.data, list):
        # `ValidationError("...")` raised outside a serializer: errors that belong to no field.
        response.data = {api_settings.NON_FIELD_ERRORS_KEY: response.data}
    return response
