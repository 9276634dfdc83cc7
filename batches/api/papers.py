"""The declaration's papers over the API (docs/contract.md "Papers with the declaration").

- `GET  /api/batches/{number}/documents/` — the batch's papers, oldest first, superseded ones
  included (`current: false`, `superseded_by`), to whoever sees the batch.
- `POST /api/batches/{number}/documents/` — multipart: `file` (a PDF, or a JPEG, PNG or WebP
  photo), `kind` (customs_declaration, inspection_certificate, other), optional `note` and
  `supersedes` (the id of the paper this one replaces); the batch's merchant, while the batch is
  a draft or rejected; 201 with the paper.
- `GET  /api/documents/{id}/file/`, `/api/documents/{id}/thumbnail/` — the paper itself (a
  photo's thumbnail), to whoever sees the batch (404 otherwise). A PDF is always sent as a
  download (`Content-Disposition: attachment`), never shown inside the site.

There is no PUT, PATCH or DELETE: a wrong paper is replaced, and both are kept.
"""

from django.db.models import OuterRef, Subquery
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

from ..actions import Capability, require
from ..actors import Actor, actor_for, visible_batches
from ..models import BatchDocument, DocumentKind
from ..papers import PDF, document_add, open_document


class DocumentInput(serializers.Serializer):
    file = serializers.FileField(help_text="A PDF, or a JPEG, PNG or WebP photo (ATTACHMENT_MAX_BYTES at most).")
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    supersedes = serializers.UUIDField(required=False, help_text="the id of the paper this one replaces")


class DocumentOutput(serializers.ModelSerializer):
    batch = serializers.CharField(source="batch.number")
    kind_display = serializers.CharField(source="get_kind_display")
    uploaded_by = serializers.CharField(source="uploaded_by.username")
    supersedes = serializers.UUIDField(source="supersedes_id", allow_null=True)
    superseded_by = serializers.UUIDField(source="replaced_by", allow_null=True, default=None)
    current = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = BatchDocument
        fields = [
            "id",
            "batch",
            "kind",
            "kind_display",
            "note",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "role",
            "uploaded_at",
            "supersedes",
            "superseded_by",
            "current",
            "url",
            "thumbnail_url",
        ]

    def get_current(self, document) -> bool:
        return getattr(document, "replaced_by", None) is None

    def get_url(self, document) -> str:
        return reverse("api-document-file", args=[document.pk])

    def get_thumbnail_url(self, document) -> str | None:
        return reverse("api-document-thumbnail", args=[document.pk]) if document.thumbnail else None


def with_replacement(queryset):
    """Each paper with the id of the paper that replaced it (`replaced_by`), or None."""
    replacement = BatchDocument.objects.filter(supersedes=OuterRef("pk")).values("pk")[:1]
    return queryset.annotate(replaced_by=Subquery(replacement))


def scoped_document(actor: Actor | None, document_id) -> BatchDocument:
    """The paper if the actor sees its batch; 404 otherwise."""
    return get_object_or_404(BatchDocument.objects.filter(batch__in=visible_batches(actor)), pk=document_id)


class BatchDocumentsView(generics.ListAPIView):
    serializer_class = DocumentOutput
    parser_classes = [MultiPartParser]
    queryset = BatchDocument.objects.none()  # for the schema only; get_queryset() scopes every request

    def batch(self):
        actor = actor_for(self.request.user)
        return get_object_or_404(visible_batches(actor), number=self.kwargs["number"]), actor

    def get_queryset(self):
        batch, _actor = self.batch()
        return with_replacement(batch.documents.select_related("batch", "uploaded_by")).order_by("uploaded_at", "id")

    @extend_schema(request={"multipart/form-data": DocumentInput}, responses={201: DocumentOutput})
    def post(self, request, number):
        batch, actor = self.batch()  # 404
        require(actor, Capability.ATTACH_PAPERS)  # 403
        data = DocumentInput(data=request.data)
        data.is_valid(raise_exception=True)  # 400
        values = data.validated_data
        document = document_add(
            batch=batch,
            actor=actor,
            kind=values["kind"],
            upload=values["file"],
            note=values.get("note", ""),
            supersedes=values.get("supersedes"),
        )
        document = with_replacement(BatchDocument.objects.select_related("batch", "uploaded_by")).get(pk=document.pk)
        return Response(DocumentOutput(document).data, status=status.HTTP_201_CREATED)


class DocumentFileView(APIView):
    """The paper (`file`) or a photo's thumbnail, to whoever sees the batch."""

    variant = "file"
    renderer_classes = [JSONRenderer]  # errors are JSON; the paper is a FileResponse
    every_signed_in_user_may = True  # whoever sees the batch sees its papers (config.openapi)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, (200, "image/jpeg"): OpenApiTypes.BINARY})
    def get(self, request, document_id):
        return document_response(scoped_document(actor_for(request.user), document_id), self.variant)


def document_response(document: BatchDocument, variant: str) -> FileResponse:
    """The stored paper with a content type of our own (never the uploader's), not sniffed, in a
    sandbox, kept by no shared cache; a PDF always as a download, a photo inline."""
    try:
        handle = open_document(document, variant)
    except FileNotFoundError:
        raise Http404(_("The paper's file is missing from the store.")) from None
    thumbnail = variant == "thumbnail"
    content_type = "image/jpeg" if thumbnail else document.content_type
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    if content_type == PDF:
        response["Content-Disposition"] = f'attachment; filename="{document.pk}.pdf"'
    else:
        response["Content-Disposition"] = f'inline; filename="{document.pk}{"-thumb" if thumbnail else ""}.jpg"'
    return response
