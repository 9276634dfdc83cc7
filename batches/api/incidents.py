"""Incidents over the API (README "Incident mode"); regulators only, within their reach:
404 for an incident whose batch the caller does not see, then 403 for any other role.

- `GET  /api/incidents/` — incidents, newest first (`?state=open|closed`).
- `GET  /api/incidents/{id}/` — the incident: its batch, the co-located lots (with why and
  whether sealed), the buyers of sold items, who was contacted.
- `POST /api/incidents/{id}/seal/` `{"batches": [...], "reason"}` — seal lots in one action.
- `POST /api/incidents/{id}/lift-seal/` `{"batches": [...], "reason"}` — lift their seals.
- `POST /api/incidents/{id}/notify/` — tell merchants (notifications) and buyers (SMS).
- `POST /api/incidents/{id}/close/` — close the incident.
- `GET  /api/incidents/{id}/report.pdf` — the incident report (PDF, Chinese).
"""

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.openapi import NOT_BLANK

from .. import incidents as svc
from ..actions import Capability, require
from ..actors import actor_for
from ..models import Incident, IncidentState

BATCH_NUMBER = serializers.RegexField(NOT_BLANK, max_length=64)


class LotsInput(serializers.Serializer):
    batches = serializers.ListField(child=BATCH_NUMBER, min_length=1, max_length=500)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class IncidentSummary(serializers.ModelSerializer):
    batch = serializers.CharField(source="batch.number")
    warehouse = serializers.CharField(source="batch.warehouse.code", allow_null=True, default=None)
    market = serializers.CharField(source="batch.market.code")
    url = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = ["id", "batch", "warehouse", "market", "cycle", "sample_no", "report_no", "opened_at", "state"]
        fields += ["closed_at", "url", "report_url"]

    def get_url(self, incident) -> str:
        return reverse("api-incident", args=[incident.pk])

    def get_report_url(self, incident) -> str:
        return reverse("api-incident-report", args=[incident.pk])


class LotOutput(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    market = serializers.CharField()
    merchant = serializers.CharField()
    reasons = serializers.ListField(child=serializers.ChoiceField(choices=[svc.SHARED_REST, svc.SAME_DAY]))
    sealed = serializers.BooleanField()


class BuyerOutput(serializers.Serializer):
    sale = serializers.IntegerField()
    batch = serializers.CharField()
    buyer_name = serializers.CharField()
    buyer_phone = serializers.CharField(allow_blank=True)
    buyer_kind = serializers.CharField()
    sold_at = serializers.DateTimeField()
    items = serializers.IntegerField()
    merchant = serializers.CharField()
    stall = serializers.CharField()
    market = serializers.CharField()
    contacted = serializers.BooleanField()


class ContactOutput(serializers.Serializer):
    kind = serializers.CharField()
    batch = serializers.CharField(source="batch.number")
    name = serializers.CharField()
    phone = serializers.CharField()
    contacted_at = serializers.DateTimeField()


class IncidentDetail(IncidentSummary):
    sealed = serializers.BooleanField(default=False)
    lots = LotOutput(many=True, default=list)
    buyers = BuyerOutput(many=True, default=list)
    contacts = ContactOutput(many=True, default=list)

    class Meta(IncidentSummary.Meta):
        fields = [*IncidentSummary.Meta.fields, "sealed", "lots", "buyers", "contacts"]


def incident_body(incident: Incident, actor) -> dict:
    """Everything the incident view shows (the page renders the same, see incident_pages)."""
    from ..seals import sealed_batch_ids

    body = IncidentSummary(incident).data
    body["sealed"] = bool(sealed_batch_ids([incident.batch_id]))
    body["lots"] = [
        {
            "number": lot["batch"].number,
            "status": lot["batch"].status,
            "market": lot["batch"].market.code,
            "merchant": lot["batch"].merchant.name,
            "reasons": lot["reasons"],
            "sealed": lot["sealed"],
        }
        for lot in svc.colocated_lots(incident, actor)
    ]
    body["buyers"] = [
        {**{k: row[k] for k in BuyerOutput().fields}, "sold_at": timezone.localtime(row["sold_at"]).isoformat()}
        for row in svc.incident_buyers(incident, actor)
    ]
    body["contacts"] = ContactOutput(incident.contacts.select_related("batch"), many=True).data
    return body


def scoped_incident(request, incident_id) -> tuple[Incident, object]:
    actor = actor_for(request.user)
    incident = get_object_or_404(svc.visible_incidents(actor), pk=incident_id)
    require(actor, Capability.HANDLE_INCIDENTS)
    return incident, actor


@extend_schema_view(
    get=extend_schema(
        parameters=[OpenApiParameter("state", str, enum=IncidentState.values, description="open or closed")]
    )
)
class IncidentListView(generics.ListAPIView):
    serializer_class = IncidentSummary
    queryset = Incident.objects.none()  # for the schema only; get_queryset() scopes every request

    def get_queryset(self):
        actor = actor_for(self.request.user)
        require(actor, Capability.HANDLE_INCIDENTS)
        incidents = svc.visible_incidents(actor)
        state = self.request.query_params.get("state")
        if state in IncidentState.values:
            incidents = incidents.filter(state=state)
        elif state:
            raise serializers.ValidationError({"state": ["open or closed"]})
        return incidents.order_by("-opened_at", "-id")


class IncidentDetailView(APIView):
    @extend_schema(responses=IncidentDetail)
    def get(self, request, incident_id):
        incident, actor = scoped_incident(request, incident_id)
        return Response(incident_body(incident, actor))


class LotsActionView(APIView):
    service = None

    def post(self, request, incident_id):
        incident, actor = scoped_incident(request, incident_id)
        data = LotsInput(data=request.data)
        data.is_valid(raise_exception=True)
        type(self).service(
            incident=incident, actor=actor, numbers=data.validated_data["batches"], reason=data.validated_data["reason"]
        )
        return Response(incident_body(incident, actor))


class SealView(LotsActionView):
    service = staticmethod(svc.incident_seal)

    @extend_schema(request=LotsInput, responses=IncidentDetail, operation_id="incidents_seal")
    def post(self, request, incident_id):
        return super().post(request, incident_id)


class LiftSealView(LotsActionView):
    service = staticmethod(svc.incident_lift_seal)

    @extend_schema(request=LotsInput, responses=IncidentDetail, operation_id="incidents_lift_seal")
    def post(self, request, incident_id):
        return super().post(request, incident_id)


class NotifyView(APIView):
    answers_conflict = False  # telling again tells only those not told yet

    @extend_schema(request=None, responses=IncidentDetail)
    def post(self, request, incident_id):
        incident, actor = scoped_incident(request, incident_id)
        _ = request.data  # a malformed body is still a 400
        svc.incident_notify(incident=incident, actor=actor)
        return Response(incident_body(incident, actor))


class CloseView(APIView):
    @extend_schema(request=None, responses=IncidentDetail)
    def post(self, request, incident_id):
        incident, actor = scoped_incident(request, incident_id)
        _ = request.data
        svc.incident_close(incident=incident, actor=actor)
        return Response(incident_body(incident, actor))


class ReportView(APIView):
    renderer_classes = [JSONRenderer]  # errors are JSON; the report is a FileResponse

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, incident_id):
        import tempfile

        from ..incident_report import write_incident_report

        incident, actor = scoped_incident(request, incident_id)
        out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (FileResponse closes it)
        write_incident_report(incident, actor, out)
        out.seek(0)
        return FileResponse(
            out, content_type="application/pdf", filename=f"incident-{incident.pk}-{incident.batch.number}.pdf"
        )
