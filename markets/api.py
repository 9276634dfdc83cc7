from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers

from batches.actors import actor_for
from config.openapi import DISTRICT_PARAMETER

from .districts import narrowed, visible_markets
from .models import Market


# `?district=CODE`: one district of those within reach (a city-level regulator's filter).
class MarketOutput(serializers.ModelSerializer):
    district = serializers.CharField(source="district.code")
    warehouses = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = Market
        fields = ["code", "name", "district", "address", "warehouses"]


@extend_schema_view(get=extend_schema(parameters=[DISTRICT_PARAMETER]))
class MarketListView(generics.ListAPIView):
    """Markets of the caller's district (every district for a city-level regulator)."""

    serializer_class = MarketOutput
    every_signed_in_user_may = True  # no role is refused (config.openapi)

    def get_queryset(self):
        actor = narrowed(actor_for(self.request.user), self.request.query_params.get("district"))
        return visible_markets(actor).order_by("code").select_related("district").prefetch_related("warehouses")
