"""The batch as the outside sees it (SPEC §4): the output shapes of the batch detail, summary,
lines, disinfections, samples and events. Domain-level, so that the API (`batches.api`), the
scan (`warehouse.scan`) and the trace (`markets.selectors`) share one definition without the
domain depending on an API module (docs/architecture.md)."""

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from rest_framework import serializers

from config.compiled import CompiledQuery, ScopedQuery
from markets.models import person_name

from .actors import batch_scope
from .lifecycle import batch_allowed_actions
from .models import Batch, BatchLine, Code, CodeStatus, Disinfection, Event, Sample, Status


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
    performed_by_name = serializers.SerializerMethodField()
    performed_at = serializers.DateTimeField()

    def get_performed_by_name(self, disinfection) -> str:
        return person_name(disinfection.performed_by)


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
    # The person by name beside the login id the contract keeps (read with the event's actor).
    actor_name = serializers.SerializerMethodField()
    warehouse = serializers.CharField(source="warehouse.code", allow_null=True, default=None)

    class Meta:
        model = Event
        fields = [
            "id",
            "action",
            "status_before",
            "status_after",
            "actor",
            "actor_name",
            "role",
            "at",
            "warehouse",
            "zone",
            "details",
        ]

    def get_actor_name(self, event) -> str | None:
        return person_name(event.actor) if event.actor_id else None


# --- the detail, rendered fast -------------------------------------------------------------
# The batch detail is read after every action and on every scan of a pallet: its look-ups are
# compiled once (config/compiled.py) and its dictionary is written here field by field, with
# the very fields of BatchDetail (tests/test_query_counts.py checks that both say the same).


def code_count_annotations(batch_ref: str = "pk") -> dict:
    """`codes_total` and `codes_<status>` of the batch at `batch_ref`, as subqueries that read
    the (batch, status) index only, so the counts come with the row that names the batch.
    COUNT(*), not COUNT(id): the id is not in that index, and counting it reads every row."""

    def count(**status):
        codes = Code.objects.filter(batch_id=OuterRef(batch_ref), **status).order_by().values("batch_id")
        return Coalesce(Subquery(codes.annotate(n=Count("*")).values("n")[:1], output_field=IntegerField()), Value(0))

    return {"codes_total": count(), **{f"codes_{value}": count(status=value) for value in CodeStatus.values}}


def code_counts(row) -> dict:
    """`{total, in_warehouse, …}` from a row annotated with code_count_annotations()."""
    return {"total": row.codes_total, **{value: getattr(row, f"codes_{value}") for value in CodeStatus.values}}


_PK, _NUMBER = -911, "\x00number"  # placeholders no real call passes


def _detail_batch_queryset():
    return Batch.objects.select_related("market", "warehouse", "merchant").annotate(**code_count_annotations())


_DETAIL_BATCH = CompiledQuery(Batch, lambda pk: _detail_batch_queryset().filter(pk=pk), pk=_PK)
BATCH_LINES = CompiledQuery(BatchLine, lambda batch: BatchLine.objects.filter(batch_id=batch), batch=_PK)
_DISINFECTIONS = CompiledQuery(
    Disinfection, lambda batch: Disinfection.objects.select_related("performed_by").filter(batch_id=batch), batch=_PK
)
# Each sample with its results in one read: a row per (sample, result), a sample without a
# result once with empty result columns (the reverse relation joins LEFT OUTER).
_SAMPLES_WITH_RESULTS = CompiledQuery(
    Sample,
    lambda batch: (
        Sample.objects.filter(batch_id=batch)
        .order_by("taken_at", "id", "results__recorded_at", "results__id")
        .values_list(
            "id",
            "cycle",
            "sample_no",
            "lab",
            "taken_at",
            "results__result",
            "results__report_no",
            "results__recorded_at",
        )
    ),
    batch=_PK,
)


_DETAIL_IN_SCOPE = ScopedQuery(
    Batch, lambda scope, number: _detail_batch_queryset().filter(number=number, **scope), number=_NUMBER
)


def detail_batch(actor, number: str) -> Batch | None:
    """The batch named `number` if the actor may see it, read as render_detail() needs it (with
    its market, warehouse, merchant and code counts), in one query scoped by batch_scope(), as
    visible_batches() is; None outside the scope."""
    scope = batch_scope(actor)
    found = _DETAIL_IN_SCOPE(scope, number=number) if scope is not None else []
    return found[0] if found else None


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
    """The batch as BatchDetail shows it, read fresh (after an action too) in four queries; in
    three for a batch that detail_batch() has just read."""
    fresh = batch if hasattr(batch, "codes_total") else _DETAIL_BATCH(pk=batch.pk)[0]
    samples = {}
    for pk, cycle, sample_no, lab, taken_at, result, report_no, recorded_at in _SAMPLES_WITH_RESULTS(batch=fresh.pk):
        if pk not in samples:
            samples[pk] = {
                "cycle": cycle,
                "sample_no": sample_no,
                "lab": lab,
                "taken_at": _moment(taken_at),
                "results": [],
            }
        if result is not None:
            samples[pk]["results"].append(
                {"result": result, "report_no": report_no, "recorded_at": _moment(recorded_at)}
            )
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
                "performed_by_name": person_name(d.performed_by),
                "performed_at": _moment(d.performed_at),
            }
            for d in _DISINFECTIONS(batch=fresh.pk)
        ],
        "samples": list(samples.values()),
        "codes": code_counts(fresh),
        "allowed_actions": batch_allowed_actions(fresh, actor.role) if actor else [],
    }
