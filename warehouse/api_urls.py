"""Codes under /api/: QR images, label sheets and their jobs, scanning."""

from django.urls import path

from . import codes_api as v

urlpatterns = [
    path("codes/<str:token>/qr.svg", v.CodeQRView.as_view(image_format="svg"), name="code-qr-svg"),
    path("codes/<str:token>/qr.png", v.CodeQRView.as_view(image_format="png"), name="code-qr-png"),
    path("batches/<str:number>/labels.pdf", v.BatchLabelsView.as_view(), name="batch-labels"),
    path("label-jobs/<uuid:job_id>/", v.LabelJobView.as_view(), name="label-job"),
    path("label-jobs/<uuid:job_id>/retry/", v.LabelJobRetryView.as_view(), name="label-job-retry"),
    path("label-jobs/<uuid:job_id>/download/", v.LabelJobDownloadView.as_view(), name="label-job-download"),
    # A full URL scanned from a label has slashes: `?value=` carries it as it is, while the
    # path form takes a batch number, a token or a percent-encoded URL.
    path("scan/", v.ScanQueryView.as_view(), name="scan-query"),
    path("scan/<path:value>/", v.ScanView.as_view(), name="scan"),
]
