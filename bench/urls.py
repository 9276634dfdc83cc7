"""The project's URLs plus the benchmark's reference endpoint: a DRF view that answers one
indexed row by primary key from the same database, with the project's DRF defaults (token
authentication, JSON renderer), so the hot endpoints can be compared with it in one run."""

from django.urls import include, path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from markets.models import Market


class ReferenceOutput(serializers.ModelSerializer):
    class Meta:
        model = Market
        fields = "__all__"


class ReferenceView(APIView):
    @extend_schema(exclude=True)
    def get(self, request, pk):
        return Response(ReferenceOutput(get_object_or_404(Market, pk=pk)).data)


urlpatterns = [
    path("bench/reference/<int:pk>/", ReferenceView.as_view(), name="bench-reference"),
    path("", include("config.urls")),
]
