from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers

from batches.actors import actor_for
from config.openapi import DISTRICT_PARAMETER
from markets.districts import narrowed, visible_warehouses

from .models import Warehouse
from .occupancy import zone_occupancy


@extend_schema_view(get=extend_schema(parameters=[DISTRICT_PARAMETER]))
class WarehouseListView(generics.ListAPIView):
    """Warehouses of the caller's district, or serving one of its markets, with their zones and
    live occupancy (every warehouse for a city-level regulator)."""

    every_signed_in_user_may = True  # no role is refused (config.openapi)

    def get_queryset(self):
        actor = narrowed(actor_for(self.request.user), self.request.query_params.get("district"))
        return visible_warehouses(actor).order_by("code").prefetch_related("zones", "markets")

    def get_serializer_class(self):
        return WarehouseOutput

    def get_serializer_context(self):
        context = super().get_serializer_context()
        page_ids = getattr(self, "_page_ids", None)
        context["occupancy"] = zone_occupancy(page_ids if page_ids is not None else self.get_queryset().values("id"))
        return context


class WarehouseOutput(serializers.ModelSerializer):
    district = serializers.CharField(source="district.code")
    markets = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    zones = serializers.SerializerMethodField()

    class Meta:
        model = Warehouse
        fields = ["code", "name", "district", "address", "area_m2", "markets", "zones"]

    def get_zones(self, warehouse) -> list[dict]:
        occupancy = self.context["occupancy"].get(warehouse.pk, {})
        return [
            {
                "kind": zone.kind,
                "name": zone.name or zone.get_kind_display(),
                "capacity_items": zone.capacity_items,
                **occupancy.get(zone.kind, {"batches": 0, "items": 0}),
            }
            for zone in warehouse.zones.all()
        ]
