from rest_framework import generics, serializers

from batches.actors import actor_for

from .models import Market


class MarketOutput(serializers.ModelSerializer):
    district = serializers.CharField(source="district.code")
    warehouses = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = Market
        fields = ["code", "name", "district", "address", "warehouses"]


class MarketListView(generics.ListAPIView):
    """Markets of the caller's district."""

    serializer_class = MarketOutput
    every_signed_in_user_may = True  # no role is refused (config.openapi)

    def get_queryset(self):
        actor = actor_for(self.request.user)
        if actor is None:
            return Market.objects.none()
        return (
            Market.objects.filter(district_id=actor.district_id)
            .select_related("district")
            .prefetch_related("warehouses")
        )
