"""The batch as the outside sees it (SPEC §4): the output shapes of the batch detail, summary,
lines, disinfections, samples and events. Domain-level, so that the API (`batches.api`), the
scan (`warehouse.scan`) and the trace (`markets.selectors`) share one definition without the
domain depending on an API module (docs/architecture.md)."""

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from rest_framework import serializers

from config.compiled import CompiledQuery

from .lifecycle import batch_allowed_actions
from .models import Batch, BatchLine, Code, CodeStatus, Disinfection, Event, Sample, Status, TestResult


class LineOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product_name = serializers.CharField()
    category = serializers.CharField()
    specification = serializers.CharField()
    quantity = serializers.IntegerField()
    received_quantity = serializers.IntegerField(allow_null=True)
    type_matches = serializers.BooleanField(allow_null=True)
    spec_matches = serializers.BooleanField(allow_null=True)
    unit = serializers.CharField()
    gtin = serializers.CharField()


class DisinfectionOutput(serializers.Serializer):
    cycle = serializers.IntegerField()
    agent = serializers.CharField()
    concentration = serializers.CharField()
    method = serializers.CharField()
    performed_by = serializers.CharField(source="performed_by.username")
    performed_at = serializers.DateTimeField()


class ResultOutput(serializers.Serializer):
    result = serializers.CharField()
    report_no = serializers.CharField()
    recorded_at = serializers.DateTimeField()


class SampleOutput(serializers.Serializer):
    cycle = serializers.IntegerField()
    sample_no = serializers.CharField()
    lab = serializers.CharField()
    taken_at = serializers.DateTimeField()
    results = ResultOutput(many=True)


class MerchantRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class BatchSummary(serializers.Serializer):
    number = serializers.CharField()
    # The status as it is now: resting past rest_until reads rest_complete (R1, Batch.current_status).
    status = serializers.CharField(source="current_status")
    status_display = serializers.CharField(source="get_current_status_display")
    market = serializers.CharField(source="market.code")
    warehouse = serializers.CharField(source="warehouse.code", allow_null=True, default=None)
    merchant = MerchantRef()
    customs_declaration_no = serializers.CharField()
    rest_until = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField()


class BatchDetail(BatchSummary):
    origin_country = serializers.CharField()
    port_of_entry = serializers.CharField()
    reject_reason = serializers.CharField()
    cycle = serializers.IntegerField()
    rest_started_at = serializers.DateTimeField(allow_null=True)
    lines = LineOutput(many=True)
    disinfections = DisinfectionOutput(many=True)
    samples = SampleOutput(many=True)
    codes = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()

    def get_codes(self, batch) -> dict:
        counts = batch.codes.aggregate(
            total=Count("id"),
            **{status: Count("id", filter=Q(status=status)) for status in CodeStatus.values},
        )
        return counts

    def get_allowed_actions(self, batch) -> list[str]:
        actor = self.context.get("actor")
        return batch_allowed_actions(batch, actor.role) if actor else []


def batch_detail_queryset(queryset):
    return queryset.select_related("market", "warehouse", "merchant").prefetch_related(
        "lines", "disinfections__performed_by", "samples__results"
    )


class EventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    warehouse = serializers.CharField(source="warehouse.code", allow_null=True, default=None)

    class Meta:
        model = Event
        fields = [
            "id",
            "action",
            "status_before",
            "status_after",
            "actor",
            "role",
            "at",
            "warehouse",
            "zone",
            "details",
        ]


# --- the detail, rendered fast -------------------------------------------------------------
# The batch detail is read after every action and on every scan of a pallet: its look-ups are
# compiled once (config/compiled.py) and its dictionary is written here field by field, with
# the very fields of BatchDetail (tests/test_query_counts.py checks that both say the same).


def code_count_annotations(batch_ref: str = "pk") -> dict:
    """`codes_total` and `codes_<status>` of the batch at `batch_ref`, as subqueries that read
    the (batch, status) index only, so the counts come with the row that names the batch."""

    def count(**status):
        codes = Code.objects.filter(batch_id=OuterRef(batch_ref), **status).order_by().values("batch_id")
        return Coalesce(Subquery(codes.annotate(n=Count("id")).values("n")[:1], output_field=IntegerField()), Value(0))

    return {"codes_total": count(), **{f"codes_{value}": count(status=value) for value in CodeStatus.values}}


def code_counts(row) -> dict:
    """`{total, in_warehouse, …}` from a row annotated with code_count_annotations()."""
    return {"total": row.codes_total, **{value: getattr(row, f"codes_{value}") for value in CodeStatus.values}}


_PK = -911  # placeholders no real call passes
_DETAIL_BATCH = CompiledQuery(
    Batch,
    lambda pk: (
        Batch.objects.select_related("market", "warehouse", "merchant")
        .annotate(**code_count_annotations())
        .filter(pk=pk)
    ),
    pk=_PK,
)
BATCH_LINES = CompiledQuery(BatchLine, lambda batch: BatchLine.objects.filter(batch_id=batch), batch=_PK)
_DISINFECTIONS = CompiledQuery(
    Disinfection, lambda batch: Disinfection.objects.select_related("performed_by").filter(batch_id=batch), batch=_PK
)
_SAMPLES = CompiledQuery(Sample, lambda batch: Sample.objects.filter(batch_id=batch), batch=_PK)
_RESULTS = CompiledQuery(TestResult, lambda batch: TestResult.objects.filter(sample__batch_id=batch), batch=_PK)
_when = serializers.DateTimeField().to_representation  # DRF's own: local time (R8), ISO 8601


def _moment(value):
    return _when(value) if value else None


def summary_output(batch: Batch) -> dict:
    """What BatchSummary(batch).data says (`batch` with market, warehouse and merchant)."""
    status = batch.current_status()
    return {
        "number": batch.number,
        "status": status,
        "status_display": str(Status(status).label),
        "market": batch.market.code,
        "warehouse": batch.warehouse.code if batch.warehouse_id else None,
        "merchant": {"id": batch.merchant.pk, "name": batch.merchant.name},
        "customs_declaration_no": batch.customs_declaration_no,
        "rest_until": _moment(batch.rest_until),
        "created_at": _moment(batch.created_at),
        "status_changed_at": _moment(batch.status_changed_at),
    }


def line_output(line: BatchLine) -> dict:
    """What LineOutput(line).data says."""
    return {
        "id": line.pk,
        "product_name": line.product_name,
        "category": line.category,
        "specification": line.specification,
        "quantity": line.quantity,
        "received_quantity": line.received_quantity,
        "type_matches": line.type_matches,
        "spec_matches": line.spec_matches,
        "unit": line.unit,
        "gtin": line.gtin,
    }


def render_detail(batch: Batch, actor) -> dict:
    """The batch as BatchDetail shows it, read fresh (after an action too) in five queries."""
    fresh = _DETAIL_BATCH(pk=batch.pk)[0]
    results = _RESULTS(batch=fresh.pk)
    return {
        **summary_output(fresh),
        "origin_country": fresh.origin_country,
        "port_of_entry": fresh.port_of_entry,
        "reject_reason": fresh.reject_reason,
        "cycle": fresh.cycle,
        "rest_started_at": _moment(fresh.rest_started_at),
        "lines": [line_output(line) for line in BATCH_LINES(batch=fresh.pk)],
        "disinfections": [
            {
                "cycle": d.cycle,
                "agent": d.agent,
                "concentration": d.concentration,
                "method": d.method,
                "performed_by": d.performed_by.username,
                "performed_at": _moment(d.performed_at),
            }
            for d in _DISINFECTIONS(batch=fresh.pk)
        ],
        "samples": [
            {
                "cycle": sample.cycle,
                "sample_no": sample.sample_no,
                "lab": sample.lab,
                "taken_at": _moment(sample.taken_at),
                "results": [
                    {"result": r.result, "report_no": r.report_no, "recorded_at": _moment(r.recorded_at)}
                    for r in results
                    if r.sample_id == sample.pk
                ],
            }
            for sample in _SAMPLES(batch=fresh.pk)
        ],
        "codes": code_counts(fresh),
        "allowed_actions": batch_allowed_actions(fresh, actor.role) if actor else [],
    }
