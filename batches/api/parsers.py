from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class LimitedJSONParser(JSONParser):
    """JSON bodies larger than DATA_UPLOAD_MAX_MEMORY_SIZE are refused with 400 before reading."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        if limit is not None and length > limit:
            raise ParseError(f"Request body too large ({length} bytes; at most {limit}).")
        data = super().parse(stream, media_type, parser_context)
        if not isinstance(data, dict):
            raise ParseError("A JSON object is expected.")
        return data
