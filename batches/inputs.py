"""The input of every batch action (SPEC §4): what the API and the pages accept, checked the
same way for both. The action registry names them (batches/actions.py, batches/services.py),
so they sit in the domain, below the services."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from markets.models import Market
from warehouse.models import Warehouse

from .countries import is_code
from .gs1 import is_valid_gtin
from .models import Status, TestResult

MAX_LINES = 500


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


class ItemErrorsAsList(serializers.ListSerializer):
    """The errors of a list of objects as a list, `{}` for each good item: `"lines": [{}, {"quantity":
    [...]}]`, the API's shape. DRF 3.18 gives them as a dict by index (`{1: {...}}`) unless a
    setting it deprecates says otherwise; this keeps the shape on every DRF version."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            detail = error.detail
            if isinstance(detail, dict) and detail and all(isinstance(index, int) for index in detail):
                raise serializers.ValidationError([detail.get(index, {}) for index in range(len(data))]) from None
            raise


@extend_schema_field(
    {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2 code of the country, e.g. IT"}
)
class CountryField(serializers.CharField):
    """A country of origin as an ISO 3166-1 alpha-2 code (`IT`; `it` is read as `IT`)."""

    def __init__(self, **kwargs):
        super().__init__(max_length=2, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data).strip().upper() if isinstance(data, str) else data
        if not isinstance(value, str) or not is_code(value):
            raise serializers.ValidationError(_("Give the country as an ISO 3166-1 alpha-2 code, e.g. IT for Italy."))
        return value


class LineInput(serializers.Serializer):
    product_name = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=100)
    specification = serializers.CharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    unit = serializers.CharField(max_length=20)
    gtin = serializers.CharField(max_length=14, required=False, allow_blank=True, default="")

    class Meta:
        list_serializer_class = ItemErrorsAsList

    def validate_gtin(self, value):
        if value and not is_valid_gtin(value):
            raise serializers.ValidationError(_("A GTIN has 8, 12, 13 or 14 digits and a valid check digit."))
        return value


class DeclareInput(serializers.Serializer):
    market = CodeRelatedField(queryset=Market.objects.all())
    customs_declaration_no = serializers.CharField(max_length=64)
    origin_country = CountryField()
    port_of_entry = serializers.CharField(max_length=100)
    lines = LineInput(many=True, allow_empty=False, max_length=MAX_LINES)

    def validate_market(self, market):
        actor = self.context["actor"]
        if actor.market is None or market.pk != actor.market.pk:
            raise serializers.ValidationError(_("You can declare only into your own market."))
        return market


class EditInput(serializers.Serializer):
    refuses_unknown_keys = True  # documented as `additionalProperties: false` (config/openapi.py)

    customs_declaration_no = serializers.CharField(max_length=64, required=False)
    origin_country = CountryField(required=False)
    port_of_entry = serializers.CharField(max_length=100, required=False)
    lines = LineInput(many=True, allow_empty=False, max_length=MAX_LINES, required=False)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: [_("This field cannot be changed.")] for name in sorted(unknown)})
        return attrs


class ApproveInput(serializers.Serializer):
    warehouse = CodeRelatedField(queryset=Warehouse.objects.all())

    def validate_warehouse(self, warehouse):
        batch = self.context["batch"]
        if not warehouse.markets.filter(pk=batch.market_id).exists():
            raise serializers.ValidationError(_("This warehouse does not serve the batch's market."))
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

    class Meta:
        list_serializer_class = ItemErrorsAsList


class ArriveInput(serializers.Serializer):
    lines = ArrivalLineInput(many=True, allow_empty=False, max_length=MAX_LINES)
    # The status the scanner saw (`approved` for the first check, `discrepancy` for a re-check):
    # when given, another status under the lock is a 409, so two checks never both count (R7).
    # `source`: the input reads as the service's keyword (batch_arrive's `seen_status`).
    status = serializers.ChoiceField(choices=Status.choices, required=False, source="seen_status")

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
            problems.append(_("Lines not of this batch: %s") % ", ".join(map(str, unknown)))
        if missing := sorted(declared - set(given)):
            problems.append(_("Lines missing: %s") % ", ".join(map(str, missing)))
        if repeated := sorted({line for line in given if given.count(line) > 1}):
            problems.append(_("Lines checked twice: %s") % ", ".join(map(str, repeated)))
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
    # `source`: the input reads as batch_release's keywords.
    codes = serializers.ListField(
        child=serializers.CharField(max_length=300),
        required=False,
        allow_empty=False,
        max_length=100_000,
        source="tokens",
    )
    all = serializers.BooleanField(required=False, default=False, source="release_all")

    def validate(self, attrs):
        if bool(attrs.get("tokens")) == bool(attrs.get("release_all")):
            raise serializers.ValidationError(_("Give either codes (a list of codes) or all: true."))
        return attrs
