"""JSON bodies, checked before any view sees them: size, nesting depth and text (SPEC §4: bad
input of any kind answers 400 and changes nothing)."""

import math

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

# Our deepest body (a declaration's lines) nests three levels; twenty leaves room for growth
# while a body of a million brackets is refused without walking it twice.
MAX_JSON_DEPTH = 20


class LimitedJSONParser(JSONParser):
    """A JSON object of at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes and MAX_JSON_DEPTH levels,
    whose strings hold neither a NUL character nor a lone surrogate (PostgreSQL can store
    neither) and whose numbers are finite. Anything else is a 400 before the view runs."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        if limit is not None and length > limit:
            raise too_large(length, limit)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(_("The JSON is nested too deeply (at most %d levels).") % MAX_JSON_DEPTH) from None
        if not isinstance(data, dict):
            raise ParseError(_("The request body must be a JSON object."))
        problems = json_problems(data)
        if problems:
            raise ValidationError(problems)
        return data


def too_large(length: int, limit: int) -> ParseError:
    """The 400 of a body over DATA_UPLOAD_MAX_MEMORY_SIZE, whoever notices it first: this parser,
    or (DRF 3.18 on) Django's own `request.body`, whose RequestDataTooBig the API's exception
    handler turns into this."""
    return ParseError(
        _("The request body is too large (%(length)d bytes; at most %(limit)d).") % {"length": length, "limit": limit}
    )


def json_problems(data: dict) -> dict:
    """Field errors for the values no field may hold, keyed by the top-level field they are in
    (the message names the place inside it). Walked without recursion, depth first."""
    problems: dict[str, list[str]] = {}
    stack = [(data, "", 1, None)]
    while stack:
        value, place, depth, field = stack.pop()
        if depth > MAX_JSON_DEPTH:
            problems.setdefault(field or "detail", []).append(
                str(
                    _("%(place)s: the JSON is nested too deeply (at most %(max)d levels).")
                    % {"place": place, "max": MAX_JSON_DEPTH}
                )
            )
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                here = f"{place}.{key}" if place else key
                message = text_problem(key)
                if message:
                    problems.setdefault(field or "detail", []).append(f"{here!r}: {message}")
                    continue
                stack.append((item, here, depth + 1, field or key))
        elif isinstance(value, list):
            stack.extend((item, f"{place}[{index}]", depth + 1, field) for index, item in enumerate(value))
        elif isinstance(value, str):
            message = text_problem(value)
            if message:
                problems.setdefault(field or "detail", []).append(f"{place}: {message}" if place != field else message)
        elif isinstance(value, float) and not math.isfinite(value):
            problems.setdefault(field or "detail", []).append(
                f"{place}: {_('The number is out of range.')}"
                if place != field
                else str(_("The number is out of range."))
            )
    return problems


def text_problem(text: str) -> str | None:
    if "\x00" in text:
        return str(ProhibitNullCharactersValidator.message)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return str(_("Not valid Unicode text (it holds a lone surrogate)."))
    return None
