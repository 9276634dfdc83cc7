"""Evidence photos over the API (README "Evidence").

- `GET  /api/batches/{number}/attachments/` — the batch's photos, oldest first.
- `POST /api/batches/{number}/attachments/` — multipart: `file` (JPEG, PNG or WebP), `kind`
  (arrival, disinfection, sample, quarantine, destruction), optional `event` (the id of the
  batch's event the photo documents) and `note`; 201 with the attachment.
- `GET  /api/attachments/{id}/file/`, `/api/attachments/{id}/thumbnail/` — the image itself,
  streamed to whoever sees the batch (404 otherwise), never from a public URL.

There is no PUT, PATCH or DELETE: evidence is kept like events (R6).
"""

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from markets.models import person_name

from ..actors import Actor, actor_for, visible_batches
from ..attachments import attachment_add, open_attachment
from ..models import Attachment, AttachmentKind


class AttachmentInput(serializers.Serializer):
    file = serializers.FileField(help_text="A JPEG, PNG or WebP photo (ATTACHMENT_MAX_BYTES at most).")
    kind = serializers.ChoiceField(choices=AttachmentKind.choices)
    event = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    note = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


class AttachmentOutput(serializers.ModelSerializer):
    batch = serializers.CharField(source="batch.number")
    uploaded_by = serializers.CharField(source="uploaded_by.username")
    uploaded_by_name = serializers.SerializerMethodField()
    event = serializers.IntegerField(source="event_id", allow_null=True)
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = [
            "id",
            "batch",
            "kind",
            "event",
            "note",
            "content_type",
            "width",
            "height",
            "size",
            "sha256",
            "location_kept",
            "uploaded_by",
            "uploaded_by_name",
            "role",
            "uploaded_at",
            "url",
            "thumbnail_url",
        ]

    def get_uploaded_by_name(self, attachment) -> str:
        return person_name(attachment.uploaded_by)

    def get_url(self, attachment) -> str:
        return reverse("api-attachment-file", args=[attachment.pk])

    def get_thumbnail_url(self, attachment) -> str:
        return reverse("api-attachment-thumbnail", args=[attachment.pk])


def scoped_attachment(actor: Actor | None, attachment_id) -> Attachment:
    """The attachment if the actor sees its batch; 404 otherwise."""
    return get_object_or_404(
        Attachment.objects.filter(batch__in=visible_batches(actor)).select_related("batch"), pk=attachment_id
    )


class BatchAttachmentsView(generics.ListAPIView):
    serializer_class = AttachmentOutput
    parser_classes = [MultiPartParser]
    queryset = Attachment.objects.none()  # for the schema only; get_queryset() scopes every request

    def batch(self):
        actor = actor_for(self.request.user)
        return get_object_or_404(visible_batches(actor), number=self.kwargs["number"]), actor

    def get_queryset(self):
        batch, _actor = self.batch()
        return batch.attachments.select_related("batch", "uploaded_by").order_by("uploaded_at", "id")

    @extend_schema(request={"multipart/form-data": AttachmentInput}, responses={201: AttachmentOutput})
    def post(self, request, number):
        batch, actor = self.batch()
        data = AttachmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        attachment = attachment_add(
            batch=batch,
            actor=actor,
            kind=values["kind"],
            upload=values["file"],
            event_id=values.get("event"),
            note=values.get("note", ""),
        )
        return Response(AttachmentOutput(attachment).data, status=status.HTTP_201_CREATED)


class AttachmentImageView(APIView):
    """The photo (`file`) or its thumbnail, to whoever sees the batch."""

    variant = "file"
    renderer_classes = [JSONRenderer]  # errors are JSON; the image is a FileResponse
    every_signed_in_user_may = True  # whoever sees the batch sees its photos (config.openapi)

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    def get(self, request, attachment_id):
        return image_response(scoped_attachment(actor_for(request.user), attachment_id), self.variant)


def image_response(attachment: Attachment, variant: str) -> FileResponse:
    try:
        handle = open_attachment(attachment, variant)
    except FileNotFoundError:
        raise Http404(_("The photo's file is missing from the store.")) from None
    response = FileResponse(handle, content_type="image/jpeg")
    # Personal evidence: kept by no shared cache, never sniffed, shown inline only as an image.
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = f'inline; filename="{attachment.pk}{"-thumb" if variant != "file" else ""}.jpg"'
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
