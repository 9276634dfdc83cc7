"""One handler turns domain errors into the SPEC §4 bodies; everything else is DRF's, with a
400 always an object of field errors (the shape the schema documents)."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import DomainError, InputError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_body(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, InputError):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == 400 and isinstance(response.data, list):
        # `ValidationError("...")` raised outside a serializer: errors that belong to no field.
        response.data = {api_settings.NON_FIELD_ERRORS_KEY: response.data}
    return response
