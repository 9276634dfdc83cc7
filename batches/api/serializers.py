"""Input and output shapes of the batch API (SPEC §4)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.compiled import CompiledQuery
from markets.models import Market
from warehouse.models import Warehouse

from ..gs1 import is_valid_gtin
from ..lifecycle import batch_allowed_actions
from ..models import Batch, BatchLine, Code, CodeStatus, Disinfection, Event, Sample, Status, TestResult

MAX_LINES = 500


# --- input --------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "maxLength": 32, "minLength": 1, "description": "its code, e.g. MKT-A, WH-1"})
class CodeRelatedField(serializers.SlugRelatedField):
    """A market or warehouse named by its `code`. A NUL character is refused before the look-up
    (PostgreSQL cannot compare one): DRF would run the field's validators only after it."""

    prohibit_null = ProhibitNullCharactersValidator()

    def __init__(self, **kwargs):
        super().__init__(slug_field="code", **kwargs)

    def to_internal_value(self, data):
        try:
            self.prohibit_null(data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return super().to_internal_value(data)


class LineInput(serializers.Serializer):
    product_name = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=100)
    specification = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    unit = serializers.CharField(max_length=20)
    gtin = serializers.CharField(max_length=14, required=False, allow_blank=True, default="")

    def validate_gtin(self, value):
        if value and not is_valid_gtin(value):
            raise serializers.ValidationError(_("GTIN 须为 8、12、13 或 14 位数字且校验位正确。"))
        return value


class DeclareInput(serializers.Serializer):
    market = CodeRelatedField(queryset=Market.objects.all())
    customs_declaration_no = serializers.CharField(max_length=64)
    origin_country = serializers.CharField(max_length=100)
    port_of_entry = serializers.CharField(max_length=100)
    lines = LineInput(many=True, allow_empty=False, max_length=MAX_LINES)

    def validate_market(self, market):
        actor = self.context["actor"]
        if actor.market is None or market.pk != actor.market.pk:
            raise serializers.ValidationError(_("只能向本人所在市场申报。"))
        return market


class EditInput(serializers.Serializer):
    customs_declaration_no = serializers.CharField(max_length=64, required=False)
    origin_country = serializers.CharField(max_length=100, required=False)
    port_of_entry = serializers.CharField(max_length=100, required=False)
    lines = LineInput(many=True, allow_empty=False, max_length=MAX_LINES, required=False)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: [_("不可修改此字段。")] for name in sorted(unknown)})
        return attrs


class ApproveInput(serializers.Serializer):
    warehouse = CodeRelatedField(queryset=Warehouse.objects.all())

    def validate_warehouse(self, warehouse):
        batch = self.context["batch"]
        if not warehouse.markets.filter(pk=batch.market_id).exists():
            raise serializers.ValidationError(_("该监管仓不服务本批次所在市场。"))
        return warehouse


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class OptionalReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ArrivalLineInput(serializers.Serializer):
    line = serializers.IntegerField(min_value=1, max_value=2**63 - 1)  # a line id (bigint)
    received_quantity = serializers.IntegerField(min_value=0, max_value=1_000_000)
    type_matches = serializers.BooleanField()
    spec_matches = serializers.BooleanField()


class ArriveInput(serializers.Serializer):
    lines = ArrivalLineInput(many=True, allow_empty=False, max_length=MAX_LINES)
    # The status the scanner saw (`approved` for the first check, `discrepancy` for a re-check):
    # when given, another status under the lock is a 409, so two checks never both count (R7).
    status = serializers.ChoiceField(choices=Status.choices, required=False)

    def validate_lines(self, lines):
        """Each declared line of the batch exactly once (R5). Checked here as well as in the
        service so that bad input answers 400 before the state is judged (SPEC §4 order)."""
        batch = self.context.get("batch")
        if batch is None:
            return lines
        declared = set(batch.lines.values_list("pk", flat=True))
        given = [item["line"] for item in lines]
        problems = []
        if unknown := sorted(set(given) - declared):
            problems.append(_("不属于本批次的明细：%s") % ", ".join(map(str, unknown)))
        if missing := sorted(declared - set(given)):
            problems.append(_("缺少明细：%s") % ", ".join(map(str, missing)))
        if repeated := sorted({line for line in given if given.count(line) > 1}):
            problems.append(_("明细重复核对：%s") % ", ".join(map(str, repeated)))
        if problems:
            raise serializers.ValidationError(problems)
        return lines


class DisinfectInput(serializers.Serializer):
    agent = serializers.CharField(max_length=100)
    concentration = serializers.CharField(max_length=50)
    method = serializers.CharField(max_length=100)


class SampleInput(serializers.Serializer):
    sample_no = serializers.CharField(max_length=64)
    lab = serializers.CharField(max_length=200)


class TestResultInput(serializers.Serializer):
    sample_no = serializers.CharField(max_length=64)
    result = serializers.ChoiceField(choices=TestResult.Outcome.choices)
    report_no = serializers.CharField(max_length=64)


class ReleaseInput(serializers.Serializer):
    codes = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, allow_empty=False, max_length=100_000
    )
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if bool(attrs.get("codes")) == bool(attrs.get("all")):
            raise serializers.ValidationError(_("请给出 codes（商品码列表）或 all: true，二者选一。"))
        return attrs


# --- output -------------------------------------------------------------------------------


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
