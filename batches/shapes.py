"""The batch as the outside sees it (SPEC §4): the output shapes of the batch detail, summary,
lines, disinfections, samples and events. Domain-level, so that the API (`batches.api`), the
scan (`warehouse.scan`) and the trace (`markets.selectors`) share one definition without the
domain depending on an API module (docs/architecture.md)."""

from django.db.models import Count, Q
from rest_framework import serializers

from .lifecycle import batch_allowed_actions
from .models import Batch, CodeStatus, Event


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


def render_detail(batch: Batch, actor) -> dict:
    fresh = batch_detail_queryset(Batch.objects.filter(pk=batch.pk)).get()
    return BatchDetail(fresh, context={"actor": actor}).data
