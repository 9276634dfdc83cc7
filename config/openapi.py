"""The OpenAPI schema tells the truth about every answer, and the query parameters it documents
are the only ones an endpoint takes.

`AutoSchema` adds to each operation the error answers its view can give, with one shared body
per kind (SPEC §4): 400 field errors, 401, 403, 404, 409 `{"detail", "code", "status",
"allowed"}`, 429. What decides them:

- 400: every operation (a query parameter it does not know, a NUL character in the path, a
  body or parameter out of its limits);
- 401: the view needs a signed-in caller (any permission class other than AllowAny);
- 403: such a view, unless it sets `every_signed_in_user_may = True` (lists any role reads,
  signing out);
- 404: the path names an object, or the answer is a paginated list (`?page=` beyond the end);
- 409: a signed-in change (POST, PUT, PATCH, DELETE) unless the view sets
  `answers_conflict = False`; a GET whose view sets `answers_conflict = True`;
- 429: the view has throttles;
- 422: the method takes an `Idempotency-Key` (the view lists it in `idempotent_methods`) and
  the key was used before for another request; the header is documented there too.
An answer a view documents itself with `extend_schema(responses=...)` is kept as it is (one
without a body gets the shared body).

`documented_query_parameters()` reads the same generated schema, so an endpoint refuses
exactly the query parameters its documentation does not list (config.middleware).
"""

import functools
import re

import uritemplate
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer

UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# Text that is not blank once trimmed: at least one character Python's str.strip() keeps (the
# class is the same in Python's and ECMAScript's regular expressions), and no NUL anywhere.
NOT_BLANK = r"^[^\u0000]*[^\s\u0000\u001c-\u001f\u0085][^\u0000]*$"

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "maxLength": 200},
    location=OpenApiParameter.HEADER,
    required=False,
    description="Repeating the request with the same key returns the first answer and does nothing twice "
    "(IDEMPOTENCY_TTL_HOURS, a day by default); the same key with another request answers 422.",
)

ERROR_BODIES = {
    "FieldErrors": {
        "type": "object",
        "description": "Bad input, nothing stored. Each key names a field of the input (its messages as a "
        "list, or nested errors for a list or object field); `non_field_errors` and `detail` "
        "hold errors that belong to no single field.",
        "additionalProperties": {},
    },
    "ErrorDetail": {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "Conflict": {
        "type": "object",
        "description": "The action is not allowed in the current state; `code` names the unmet condition "
        "(`invalid_transition`, `rest_not_complete` with `rest_until`, ...), `allowed` lists "
        "the actions the caller may take now.",
        "properties": {
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "status": {"type": "string"},
            "allowed": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["detail", "code", "status", "allowed"],
        "additionalProperties": {},
    },
    "IdempotencyKeyReused": {
        "type": "object",
        "description": "`code` is `idempotency_key_reused`.",
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
        "required": ["detail", "code"],
    },
}

ERROR_ANSWERS = {
    "400": ("FieldErrors", "Bad input: field errors, an unknown query parameter, a malformed body."),
    "401": ("ErrorDetail", "Not signed in, or the token is not valid."),
    "403": ("ErrorDetail", "The caller's role may not take this action."),
    "404": ("ErrorDetail", "Not found, or outside the caller's scope."),
    "409": ("Conflict", "Not allowed in the current state."),
    "422": ("IdempotencyKeyReused", "This Idempotency-Key was used for a different request."),
    "429": ("ErrorDetail", "Too many requests; try again after `Retry-After` seconds."),
}


class AutoSchema(openapi.AutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.ListSerializer) and isinstance(schema, dict) and schema.get("type") == "array":
            # `many=True` with limits: drf-spectacular states them for a ListField only
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
            if not field.allow_empty:
                schema["minItems"] = max(schema.get("minItems", 0), 1)
            if field.min_length is not None:
                schema["minItems"] = max(schema.get("minItems", 0), field.min_length)
        # A CharField trims its input and refuses it blank or with a NUL: say so, so that a
        # client (and a fuzzer) knows "  " is not a reason.
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and isinstance(schema, dict)
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            schema["pattern"] = NOT_BLANK
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        # An input that refuses keys it does not know (`refuses_unknown_keys`, e.g. a draft's
        # edit) says so: a client learns it from the schema, not from a 400.
        if direction == "request" and getattr(serializer, "refuses_unknown_keys", False):
            schema["additionalProperties"] = False
        return schema

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        # A query parameter given empty is refused (config.middleware): a text one says so.
        for parameter in (operation or {}).get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter["in"] == "query" and schema.get("type") == "string" and "enum" not in schema:
                schema["minLength"] = max(schema.get("minLength", 0), 1)
        return operation

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.is_idempotent():
            parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        return parameters

    def is_idempotent(self) -> bool:
        return self.method in getattr(self.view, "idempotent_methods", ())

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        documented = [code for code in responses if code in ERROR_ANSWERS]
        for code in dict.fromkeys([*self.error_statuses(), *documented]):
            component_name, description = ERROR_ANSWERS[code]
            body = {"schema": self._error_component(component_name).ref}
            content = dict.fromkeys(self.error_media_types(), body)
            answer = responses.setdefault(code, {"description": description})
            answer.setdefault("content", content)
        return responses

    def error_media_types(self) -> list[str]:
        """Errors are rendered by the view's JSON renderers (e.g. JSON-LD for EPCIS)."""
        types = [renderer.media_type for renderer in self.view.get_renderers() if isinstance(renderer, JSONRenderer)]
        return types or ["application/json"]

    def error_statuses(self) -> list[str]:
        view, method = self.view, self.method
        signed_in = not all(isinstance(permission, AllowAny) for permission in view.get_permissions())
        codes = ["400"]
        if signed_in:
            codes.append("401")
            if not getattr(view, "every_signed_in_user_may", False):
                codes.append("403")
        if uritemplate.variables(self.path) or (self._is_list_view() and self._get_paginator()):
            codes.append("404")
        conflicts = getattr(view, "answers_conflict", None)
        if conflicts or (conflicts is None and signed_in and method in UNSAFE_METHODS):
            codes.append("409")
        if self.is_idempotent():
            codes.append("422")
        if view.get_throttles():
            codes.append("429")
        return codes

    def _error_component(self, name: str) -> ResolvedComponent:
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=ERROR_BODIES[name])
        self.registry.register_on_missing(component)
        return component


# --- the query parameters each operation takes ------------------------------------------------

ROUTE_PARAMETER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")
METHODS = {"get", "put", "post", "patch", "delete", "options", "head", "trace"}


@functools.cache
def _query_parameters() -> dict[tuple[str, str], frozenset[str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (path, method.upper()): frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def documented_query_parameters(route: str, method: str) -> frozenset[str] | None:
    """The query parameters the schema lists for this URL route (`api/batches/<str:number>/`)
    and method; None for an operation the schema does not describe (the schema itself)."""
    path = "/" + ROUTE_PARAMETER.sub(r"{\1}", route)
    return _query_parameters().get((path, "GET" if method == "HEAD" else method))


# The city-level regulator's district filter on the lists of markets and warehouses.
DISTRICT_PARAMETER = OpenApiParameter(
    "district", str, description="District code: only this district (404 if outside your reach)."
)
