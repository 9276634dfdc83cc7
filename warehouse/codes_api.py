"""The API around codes (SPEC §4): QR images, label sheets, label jobs and scanning.

Every object is found through the caller's scope first (`visible_codes`, `scoped_batch`:
outside it → 404), then the role is checked (403), then the state (409) — SPEC §4's order.
"""

import tempfile

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from batches import qr
from batches.actions import Capability, require
from batches.actors import actor_for, visible_batches, visible_codes
from batches.api.views import scoped_batch
from batches.errors import DomainError
from config.openapi import NOT_BLANK

from . import label_sheets
from .models import LabelJob
from .scan import scan_result
from .selectors import qr_url


class FirstRendererNegotiation(BaseContentNegotiation):
    """Files (images, PDF) are answered as they are; errors always as JSON, whatever the
    client's Accept header asks (an `<img>` sends `Accept: image/*`)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class FileView(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRendererNegotiation


# --- QR images ----------------------------------------------------------------------------


class CodeQRView(FileView):
    """GET /api/codes/{token}/qr.svg|png — the QR the code's label carries (`url` of the code)."""

    image_format = "svg"

    @extend_schema(responses={(200, "image/svg+xml"): OpenApiTypes.BINARY, (200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, token):
        code = get_object_or_404(
            visible_codes(actor_for(request.user)).select_related("line", "batch"), token=token.upper()
        )
        url = qr_url(code)
        if self.image_format == "png":
            response = HttpResponse(qr.render_png(url, box=8), content_type="image/png")
        else:
            response = HttpResponse(qr.render_svg(url), content_type="image/svg+xml")
        response["Cache-Control"] = "private, max-age=3600"
        return response


# --- label sheets -------------------------------------------------------------------------


class LabelJobOutput(serializers.Serializer):
    """A job as the person who prints sees it: a job whose worker died shows as `failed`
    (`error_code` `worker_lost`), and a failed job carries the `retry_url` to POST to."""

    id = serializers.UUIDField()
    batch = serializers.CharField(source="batch.number")
    state = serializers.SerializerMethodField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    error_code = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    attempts = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    retry_url = serializers.SerializerMethodField()

    def get_state(self, job) -> str:
        return label_sheets.job_state(job)[0]

    def get_error_code(self, job) -> str:
        return label_sheets.job_state(job)[1]

    def get_error(self, job) -> str:
        return label_sheets.failure_message(label_sheets.job_state(job)[1])

    def get_status_url(self, job) -> str:
        return self.context["request"].build_absolute_uri(reverse("label-job", args=[job.pk]))

    def get_retry_url(self, job) -> str | None:
        if not label_sheets.can_retry(job):
            return None
        return self.context["request"].build_absolute_uri(reverse("label-job-retry", args=[job.pk]))

    def get_download_url(self, job) -> str | None:
        if job.state != LabelJob.State.DONE:
            return None
        return self.context["request"].build_absolute_uri(reverse("label-job-download", args=[job.pk]))


def render_job(request, job: LabelJob) -> dict:
    return LabelJobOutput(job, context={"request": request}).data


class BatchLabelsView(FileView):
    """GET /api/batches/{number}/labels.pdf — the batch's label sheet (A4, 3 × 8 labels).

    Up to LABELS_SYNC_MAX codes the PDF is the answer; beyond, 202 with a job whose
    `status_url` reports progress and, when done, a `download_url`."""

    answers_conflict = True  # `no_codes` before the batch is coded

    @extend_schema(
        operation_id="batches_labels_pdf",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 202: LabelJobOutput},
    )
    def get(self, request, number):
        batch, actor = scoped_batch(request, number)
        require(actor, Capability.PRINT_LABELS)
        total = label_sheets.check_printable(batch, actor)
        if total > settings.LABELS_SYNC_MAX:
            job = label_sheets.label_job_start(batch=batch, actor=actor, total=total)
            body = render_job(request, job)
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})
        # FileResponse closes the file once it is sent: no `with` here.
        sheet = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
        label_sheets.write_batch_labels(batch, sheet, total=total)
        sheet.seek(0)
        return FileResponse(sheet, content_type="application/pdf", filename=label_sheets.file_name(batch))


def scoped_job(request, job_id) -> LabelJob:
    """The job, if its batch is in the caller's scope (else 404) and the caller prints labels (else 403)."""
    actor = actor_for(request.user)
    job = LabelJob.objects.select_related("batch").filter(pk=job_id, batch__in=visible_batches(actor)).first()
    if job is None:
        raise Http404
    require(actor, Capability.PRINT_LABELS)
    return job


class LabelJobView(APIView):
    """GET /api/label-jobs/{id}/ — progress of a large label sheet."""

    @extend_schema(responses=LabelJobOutput)
    def get(self, request, job_id):
        return Response(render_job(request, scoped_job(request, job_id)))


class LabelJobRetryView(APIView):
    """POST /api/label-jobs/{id}/retry/ — queue a failed job (or one whose worker died) again;
    409 `label_job_not_failed` for a job that is queued, running or done."""

    @extend_schema(request=None, responses={202: LabelJobOutput})
    def post(self, request, job_id):
        job = label_sheets.label_job_retry(job=scoped_job(request, job_id), actor=actor_for(request.user))
        body = render_job(request, job)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})


class LabelJobDownloadView(FileView):
    """GET /api/label-jobs/{id}/download/ — the finished PDF (409 `label_job_not_ready` before)."""

    answers_conflict = True

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, job_id):
        job = scoped_job(request, job_id)
        if job.state != LabelJob.State.DONE:
            raise DomainError(
                "label_job_not_ready",
                _("The labels are still being built (%(done)d/%(total)d).") % {"done": job.done, "total": job.total},
                status=job.state,
            )
        if not label_sheets.sheet_on_disk(job):
            raise Http404
        return FileResponse(
            job.file.open("rb"), content_type="application/pdf", filename=label_sheets.file_name(job.batch)
        )


# --- scanning -----------------------------------------------------------------------------

ScanOutput = inline_serializer(
    "ScanOutput",
    fields={
        "kind": serializers.ChoiceField(choices=["batch", "code"]),
        "batch": serializers.DictField(),
        "code": serializers.DictField(allow_null=True),
        "allowed_actions": serializers.ListField(child=serializers.CharField()),
    },
)


SCAN_RESPONSES = {200: ScanOutput, 404: OpenApiResponse(description="unknown, or outside the caller's scope")}


class ScanView(APIView):
    """GET /api/scan/{value}/ or /api/scan/?value=… — what a scanned batch number, code token,
    `/c/` URL or Digital Link is, and what the caller may do with it. Operators and merchants."""

    @extend_schema(
        operation_id="scan",
        responses=SCAN_RESPONSES,
        parameters=[
            OpenApiParameter(
                "value",
                {"type": "string", "pattern": NOT_BLANK},
                location=OpenApiParameter.PATH,
                description="batch number, code token or a label's URL (percent-encoded)",
            )
        ],
    )
    def get(self, request, value=None):
        actor = actor_for(request.user)
        require(actor, Capability.SCAN)
        value = value if value is not None else request.query_params.get("value", "")
        if not value.strip():
            raise serializers.ValidationError({"value": [_("Give the scanned batch number, code or QR URL.")]})
        result = scan_result(value, actor)
        if result is None:
            raise Http404
        return Response(result)


class ScanQueryView(ScanView):
    """GET /api/scan/?value=… — the same, for a scanned URL carried as it is."""

    @extend_schema(
        operation_id="scan_query",
        responses=SCAN_RESPONSES,
        parameters=[
            OpenApiParameter(
                "value",
                {"type": "string", "pattern": NOT_BLANK},
                required=True,
                description="batch number, code token or a label's URL",
            )
        ],
    )
    def get(self, request):
        return super().get(request)
