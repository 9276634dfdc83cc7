"""The regulator's trace (SPEC §4): one code, one batch, a merchant's sales (JSON, CSV,
XLSX), a batch as EPCIS 2.0, and search. Regulators only, within their district; for anyone
else an object outside their scope answers 404 and one inside it 403 (SPEC §2, §4).

Every trace query by a regulator is recorded (`TraceQuery`), those that found nothing too.
"""

import re
from datetime import UTC, date, datetime, time, timedelta

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from batches.actions import Capability, may, require
from batches.actors import regulator_reads, visible_codes
from batches.api.views import current_actor
from batches.codes import codes_for_scans
from config.replica import read_alias

from . import exports, selectors
from .models import TraceQueryKind
from .services import code_trace_recorded, trace_query_record

SHANGHAI = selectors.SHANGHAI


# What `from` and `to` take, exactly as the schema states it (PERIOD_PARAMETERS): a calendar
# date (RFC 3339 full-date), a time with its offset (RFC 3339 date-time) or a time without one
# (Asia/Shanghai). Anything else, an empty value included, is a 400.
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_TIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
LOCAL_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?$"
LOCAL_TIME_RE = re.compile(LOCAL_TIME_PATTERN.strip("^$"))


def _moment(value: str) -> date | datetime | None:
    """The date or time `value` names, or None if it is none of the three forms."""
    try:
        if DATE_RE.fullmatch(value):
            return date.fromisoformat(value)
        if DATE_TIME_RE.fullmatch(value):
            # RFC 3339 allows a leap second, which Python's times cannot hold: the same moment
            # as the last second of that minute, for a bound.
            value = value[:17] + "59" + value[19:] if value[17:19] == "60" else value
            return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        if LOCAL_TIME_RE.fullmatch(value):
            return datetime.fromisoformat(value)
    except ValueError:
        return None  # the 30th of February, the 25th hour, an offset of 24 hours
    return None


def parse_period(params) -> tuple[datetime | None, datetime | None]:
    """`from` / `to` as dates (Asia/Shanghai days, both inclusive) or times (`to` exclusive;
    without an offset in Asia/Shanghai). Returns [start, end) in aware datetimes, None for a
    bound not given; 400 on a bad value.

    A bound beyond the time the database can hold (`to=9999-12-31`, `from=0001-01-01` east of
    UTC) leaves that side open: every sale is within it, which is what it asks for."""
    errors = {}

    def parse(name: str, *, upper: bool):
        if name not in params:
            return None
        moment = _moment(params[name])
        if moment is None:
            errors[name] = [_("Use a YYYY-MM-DD date or an ISO 8601 time.")]
            return None
        try:
            if not isinstance(moment, datetime):
                return _representable(
                    datetime.combine(moment, time.min, tzinfo=SHANGHAI) + (timedelta(days=1) if upper else timedelta())
                )
        except OverflowError:
            return None
        return _representable(moment if timezone.is_aware(moment) else moment.replace(tzinfo=SHANGHAI))

    start, end = parse("from", upper=False), parse("to", upper=True)
    if start and end and start >= end:
        errors["to"] = [_("The end must be after the start.")]
    if errors:
        raise ValidationError(errors)
    return start, end


def _representable(moment: datetime) -> datetime | None:
    """The moment, if it has a UTC time (the database stores UTC) and a Shanghai time (the
    answer shows it); None for an open bound."""
    try:
        moment.astimezone(UTC)
        moment.astimezone(SHANGHAI)
    except OverflowError:
        return None
    return moment


PERIOD_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "pattern": LOCAL_TIME_PATTERN},
    ]
}
PERIOD_PARAMETERS = [
    OpenApiParameter(
        "from",
        PERIOD_SCHEMA,
        description="Sold from: a date (`2026-11-01`, the Asia/Shanghai day, inclusive) or a time "
        "(`2026-11-01T08:00:00+08:00`; without an offset in Asia/Shanghai); earlier than `to`.",
    ),
    OpenApiParameter(
        "to",
        PERIOD_SCHEMA,
        description="Sold until: a date (inclusive) or a time (exclusive), in the same forms as `from`.",
    ),
]


class _NoFormatOverride:
    URL_FORMAT_OVERRIDE = None


class FormatParamNegotiation(DefaultContentNegotiation):
    """`?format=csv|xlsx` chooses the export here, not a DRF renderer."""

    settings = _NoFormatOverride()


class JSONLDRenderer(JSONRenderer):
    media_type = "application/ld+json"
    format = "jsonld"


# --- one code -------------------------------------------------------------------------------


@method_decorator(regulator_reads, name="get")
class CodeTraceView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, token):
        """The whole chain of one code, its current sale and buyer."""
        actor = current_actor(request)
        if not may(actor, Capability.TRACE):
            if codes_for_scans([token], queryset=visible_codes(actor))[token] is None:
                raise Http404
            require(actor, Capability.TRACE)
        trace = code_trace_recorded(actor=actor, token=token)
        if trace is None:
            raise Http404
        return Response(trace)


# --- one batch ------------------------------------------------------------------------------


def traced_batch(request, number: str, kind: str):
    """The batch in the caller's scope (else 404), for a regulator (else 403); a regulator's
    look-up that finds nothing is recorded too."""
    actor = current_actor(request)
    batch = selectors.batch_for_trace(actor=actor, number=number)
    if batch is None:
        if may(actor, Capability.TRACE):
            trace_query_record(actor=actor, kind=kind, subject=number, found=False)
        raise Http404
    require(actor, Capability.TRACE)
    return batch, actor


@method_decorator(regulator_reads, name="get")
class BatchTraceView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, number):
        """Counts issued / in warehouse / released / sold / recalled / voided, buyers, timeline."""
        batch, actor = traced_batch(request, number, TraceQueryKind.BATCH)
        trace = selectors.batch_trace(actor=actor, batch=batch)
        trace_query_record(
            actor=actor, kind=TraceQueryKind.BATCH, subject=batch.number, result_count=trace["counts"]["buyers"]
        )
        return Response(trace)


@method_decorator(regulator_reads, name="get")
class BatchEpcisView(APIView):
    renderer_classes = [JSONLDRenderer, JSONRenderer]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, number):
        """The batch's events as a GS1 EPCIS 2.0 JSON-LD EPCISDocument."""
        batch, actor = traced_batch(request, number, TraceQueryKind.EPCIS)
        document = selectors.epcis_for_batch(batch=batch, created=timezone.now())
        trace_query_record(
            actor=actor,
            kind=TraceQueryKind.EPCIS,
            subject=batch.number,
            result_count=len(document["epcisBody"]["eventList"]),
        )
        return Response(document)


# --- a merchant's sales ---------------------------------------------------------------------


@method_decorator(regulator_reads, name="get")
class MerchantSalesView(APIView):
    content_negotiation_class = FormatParamNegotiation

    @extend_schema(
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, exports.XLSX_CONTENT_TYPE): OpenApiTypes.BINARY,
        },
        parameters=[
            *PERIOD_PARAMETERS,
            OpenApiParameter("format", str, enum=["json", "csv", "xlsx"]),
            OpenApiParameter(
                "page", {"type": "integer", "minimum": 1}, description="Page of `sales` in the JSON answer."
            ),
        ],
    )
    def get(self, request, merchant_id):
        """How much the merchant sold and to whom: totals per batch and product, the sales with
        their buyers; `?format=csv|xlsx` gives one row per code sold."""
        actor = current_actor(request)
        merchant = selectors.merchant_for_trace(actor=actor, merchant_id=merchant_id)
        if merchant is None:
            if may(actor, Capability.TRACE):
                trace_query_record(
                    actor=actor, kind=TraceQueryKind.MERCHANT_SALES, subject=str(merchant_id), found=False
                )
            raise Http404
        require(actor, Capability.TRACE)
        start, end = parse_period(request.query_params)
        fmt = request.query_params.get("format") or "json"
        if fmt not in ("json", "csv", "xlsx"):
            raise ValidationError({"format": [_("Choose json, csv or xlsx.")]})
        period = {"from": selectors.local_iso(start), "to": selectors.local_iso(end)}
        if fmt != "json":
            trace_query_record(
                actor=actor, kind=TraceQueryKind.EXPORT, subject=str(merchant.pk), parameters={**period, "format": fmt}
            )
            return self.export(merchant, start, end, fmt)

        summary = selectors.merchant_sales_summary(merchant=merchant, start=start, end=end)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.merchant_sales(merchant=merchant, start=start, end=end), request, view=self
        )
        sales = paginator.get_paginated_response([selectors.sale_output(sale, actor) for sale in page]).data
        trace_query_record(
            actor=actor,
            kind=TraceQueryKind.MERCHANT_SALES,
            subject=str(merchant.pk),
            parameters=period,
            result_count=summary["totals"]["codes"],
        )
        return Response(
            {
                "merchant": dict(selectors.merchant_ref(merchant), licence_no=merchant.licence_no),
                **period,
                **summary,
                "sales": sales,
            }
        )

    @staticmethod
    def export(merchant, start, end, fmt):
        # The rows are read while the response streams, after this view has returned: the
        # database this view reads from is bound now.
        rows = selectors.export_rows(merchant=merchant, start=start, end=end, using=read_alias())
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
        language = get_language()
        header = exports.sales_header(language)
        if fmt == "csv":
            chunks = exports.csv_chunks(header, rows)
            content_type = "text/csv; charset=utf-8"
        else:  # streamed as it is written: the first bytes leave before the last row is read
            chunks = exports.xlsx_chunks(
                header,
                rows,
                title=exports.sales_sheet_title(language),
                widths={1: 20, 3: 22, 4: 20, 9: 28, 10: 48, 11: 16, 12: 14, 14: 22},
            )
            content_type = exports.XLSX_CONTENT_TYPE
        response = StreamingHttpResponse(chunks, content_type=content_type)
        response["Content-Disposition"] = exports.sales_disposition(language, merchant, stamp, fmt)
        return response


# --- search ---------------------------------------------------------------------------------


@method_decorator(regulator_reads, name="get")
@method_decorator(regulator_reads, name="post")
class TraceSearchView(APIView):
    answers_conflict = False  # a search changes no state

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 2, "maxLength": 300, "pattern": r"\S.*\S"},
                required=True,
                description="2 to 300 characters.",
            )
        ],
    )
    def get(self, request):
        """By code token or scanned URL, batch number, merchant name or licence, buyer phone."""
        return self.search(request, request.query_params.get("q"))

    @extend_schema(
        request=inline_serializer(
            "TraceSearchInput", fields={"q": serializers.CharField(min_length=2, max_length=300)}
        ),
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request):
        """The same search with `{"q"}` in the body: a phone number searched for then stays out
        of URLs, and so out of web-server access logs."""
        return self.search(request, request.data.get("q"))

    def search(self, request, q):
        actor = current_actor(request)
        require(actor, Capability.TRACE)
        # At most 300 characters as sent (the schema's maxLength), at least 2 once trimmed.
        sent = q if isinstance(q, str) else ""
        q = sent.strip()
        if len(q) < 2 or len(sent) > 300:
            raise ValidationError({"q": [_("Enter 2 to 300 characters.")]})
        found = selectors.trace_search(actor=actor, q=q)
        trace_query_record(
            actor=actor, kind=TraceQueryKind.SEARCH, subject=q, result_count=sum(len(rows) for rows in found.values())
        )
        return Response({"q": q, **found})
