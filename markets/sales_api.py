"""Sales API (SPEC §4, R4): a merchant records and voids sales; merchants list their own sales,
regulators those of the district. Checks in the SPEC's order: 401 → 404 (scope) → 403 (role)
→ 400 (input) → 409 (state)."""

import unicodedata

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from batches.actions import Capability, require
from batches.actors import Actor, regulator_reads
from batches.api.idempotency import run_idempotent
from batches.api.serializers import ReasonInput
from batches.api.views import current_actor, validated

from . import services
from .models import MERCHANT_ID_RE, BuyerKind, Sale, mobile_validator, validate_credit_code
from .selectors import sale_output, sales_with_codes, visible_sales
from .trace_api import PERIOD_PARAMETERS, parse_period

# A merchant id as a query parameter: ASCII digits that fit the database's bigint.


class MobileField(serializers.CharField):
    """A mobile number as typed: full-width digits (a Chinese IME) are read as ASCII (NFKC)
    before the rule is checked, so they are stored as ASCII too."""

    def to_internal_value(self, data):
        return unicodedata.normalize("NFKC", super().to_internal_value(data))


class SaleInput(serializers.Serializer):
    codes = serializers.ListField(
        child=serializers.CharField(max_length=300), allow_empty=False, max_length=services.SALE_MAX_CODES
    )
    buyer_name = serializers.CharField(max_length=200)
    buyer_phone = MobileField(max_length=20, validators=[mobile_validator])
    buyer_kind = serializers.ChoiceField(choices=BuyerKind.choices)
    buyer_credit_code = serializers.CharField(max_length=18, required=False, allow_blank=True, default="")

    def validate_buyer_credit_code(self, value):
        value = value.strip().upper()
        if value:
            try:
                validate_credit_code(value)
            except DjangoValidationError as error:
                raise serializers.ValidationError(error.messages) from None
        return value

    def validate(self, attrs):
        if attrs.get("buyer_credit_code") and attrs["buyer_kind"] != BuyerKind.BUSINESS:
            raise serializers.ValidationError(
                {"buyer_credit_code": [_("Only a business buyer carries a credit code.")]}
            )
        return attrs


class SaleOutput(serializers.Serializer):
    """The shape of a sale (SPEC §4); `buyer_phone` in full to regulators only."""

    id = serializers.IntegerField()
    codes = serializers.ListField(child=serializers.CharField())
    buyer_name = serializers.CharField()
    buyer_phone = serializers.CharField()
    buyer_kind = serializers.ChoiceField(choices=BuyerKind.choices)
    buyer_credit_code = serializers.CharField()
    sold_at = serializers.DateTimeField()
    voided_at = serializers.DateTimeField(allow_null=True)
    void_reason = serializers.CharField()
    merchant = serializers.DictField()


def render_sale(sale: Sale, actor: Actor) -> dict:
    return sale_output(sales_with_codes(Sale.objects.filter(pk=sale.pk)).get(), actor)


class SaleListCreateView(APIView):
    pagination_class = PageNumberPagination  # the list is paginated like every list (SPEC §4)
    answers_conflict = False  # a code that cannot be sold is a per-code 400 (R4)
    idempotent_methods = ("POST",)

    @extend_schema(
        responses=SaleOutput(many=True),
        parameters=[
            OpenApiParameter(
                "merchant",
                {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
                description="Only this merchant's sales (regulators).",
            ),
            *PERIOD_PARAMETERS,
            OpenApiParameter("voided", bool, description="Only voided (true) or only standing (false) sales."),
        ],
    )
    @method_decorator(regulator_reads)
    def get(self, request):
        """Own sales (merchant) or the district's (regulator), newest first, paginated."""
        actor = current_actor(request)
        require(actor, Capability.LIST_SALES)
        start, end = parse_period(request.query_params)
        sales = visible_sales(actor)
        if start:
            sales = sales.filter(sold_at__gte=start)
        if end:
            sales = sales.filter(sold_at__lt=end)
        if merchant := request.query_params.get("merchant"):
            if not MERCHANT_ID_RE.fullmatch(merchant):
                raise serializers.ValidationError({"merchant": [_("A merchant id is a number.")]})
            sales = sales.filter(merchant_id=int(merchant))
        voided = request.query_params.get("voided")
        if voided is not None:
            if voided not in ("true", "1", "false", "0"):
                raise serializers.ValidationError({"voided": [_("Use true or false.")]})
            sales = sales.filter(voided_at__isnull=voided in ("false", "0"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(sales_with_codes(sales).order_by("-sold_at", "-id"), request, view=self)
        return paginator.get_paginated_response([sale_output(sale, actor) for sale in page])

    @extend_schema(request=SaleInput, responses={201: SaleOutput})
    def post(self, request):
        """A merchant sells released codes (tokens or scanned QR URLs) to one buyer (R4)."""
        return run_idempotent(self, request, lambda: self._sell(request))

    def _sell(self, request):
        actor = current_actor(request)
        require(actor, Capability.SELL)
        data = validated(SaleInput, request)
        sale = services.sale_record(
            actor=actor,
            scans=data["codes"],
            buyer_name=data["buyer_name"],
            buyer_phone=data["buyer_phone"],
            buyer_kind=data["buyer_kind"],
            buyer_credit_code=data["buyer_credit_code"],
        )
        return Response(sale_output(sale, actor), status=status.HTTP_201_CREATED)  # as recorded: no read back


class SaleDetailView(APIView):
    @extend_schema(responses=SaleOutput)
    def get(self, request, sale_id):
        actor = current_actor(request)
        sale = get_object_or_404(visible_sales(actor), pk=sale_id)
        return Response(render_sale(sale, actor))


class SaleVoidView(APIView):
    idempotent_methods = ("POST",)

    @extend_schema(request=ReasonInput, responses=SaleOutput)
    def post(self, request, sale_id):
        """The merchant voids own sale with a reason; its codes are sellable again (R4)."""
        return run_idempotent(self, request, lambda: self._void(request, sale_id))

    def _void(self, request, sale_id):
        actor = current_actor(request)
        sale = get_object_or_404(visible_sales(actor), pk=sale_id)
        require(actor, Capability.VOID_SALE)
        data = validated(ReasonInput, request)
        services.sale_void(actor=actor, sale=sale, reason=data["reason"])
        return Response(render_sale(sale, actor))
