"""One handler turns domain errors into the SPEC §4 bodies; everything else is DRF's."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import DomainError, InputError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_body(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, InputError):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
