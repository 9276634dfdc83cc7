"""URL entries of the regulator's reach (evidence photos, the declaration's papers, incidents):
API under /api/ and pages, kept apart from the core's url modules (config/urls.py includes both lists)."""

from django.urls import path

from batches.api import attachments as attachment_api
from batches.api import incidents as incident_api
from batches.api import papers as paper_api
from batches.web import evidence as evidence_pages
from batches.web import papers as paper_pages
from markets.web import incidents as incident_pages

api = [
    path(
        "batches/<str:number>/attachments/",
        attachment_api.BatchAttachmentsView.as_view(),
        name="batch-attachments",
    ),
    path(
        "attachments/<uuid:attachment_id>/file/",
        attachment_api.AttachmentImageView.as_view(variant="file"),
        name="api-attachment-file",
    ),
    path(
        "attachments/<uuid:attachment_id>/thumbnail/",
        attachment_api.AttachmentImageView.as_view(variant="thumbnail"),
        name="api-attachment-thumbnail",
    ),
    path("batches/<str:number>/documents/", paper_api.BatchDocumentsView.as_view(), name="batch-documents"),
    path(
        "documents/<uuid:document_id>/file/",
        paper_api.DocumentFileView.as_view(variant="file"),
        name="api-document-file",
    ),
    path(
        "documents/<uuid:document_id>/thumbnail/",
        paper_api.DocumentFileView.as_view(variant="thumbnail"),
        name="api-document-thumbnail",
    ),
    path("incidents/", incident_api.IncidentListView.as_view(), name="api-incidents"),
    path("incidents/<int:incident_id>/", incident_api.IncidentDetailView.as_view(), name="api-incident"),
    path("incidents/<int:incident_id>/seal/", incident_api.SealView.as_view(), name="api-incident-seal"),
    path("incidents/<int:incident_id>/lift-seal/", incident_api.LiftSealView.as_view(), name="api-incident-lift-seal"),
    path("incidents/<int:incident_id>/notify/", incident_api.NotifyView.as_view(), name="api-incident-notify"),
    path("incidents/<int:incident_id>/close/", incident_api.CloseView.as_view(), name="api-incident-close"),
    path("incidents/<int:incident_id>/report.pdf", incident_api.ReportView.as_view(), name="api-incident-report"),
]

app_name = "regulation"
urlpatterns = [
    path("batches/<str:number>/photos/", evidence_pages.photo_add, name="photo-add"),
    path("photos/<uuid:attachment_id>/", evidence_pages.photo_image, {"variant": "file"}, name="photo"),
    path(
        "photos/<uuid:attachment_id>/thumbnail/",
        evidence_pages.photo_image,
        {"variant": "thumbnail"},
        name="photo-thumbnail",
    ),
    path("batches/<str:number>/papers/", paper_pages.paper_add, name="paper-add"),
    path("papers/<uuid:document_id>/", paper_pages.paper_file, {"variant": "file"}, name="paper"),
    path(
        "papers/<uuid:document_id>/thumbnail/", paper_pages.paper_file, {"variant": "thumbnail"}, name="paper-thumbnail"
    ),
    path("incidents/", incident_pages.incident_list, name="incidents"),
    path("incidents/<int:incident_id>/", incident_pages.incident_detail, name="incident"),
    path("incidents/<int:incident_id>/seal/", incident_pages.incident_seal, name="incident-seal"),
    path("incidents/<int:incident_id>/lift-seal/", incident_pages.incident_lift_seal, name="incident-lift-seal"),
    path("incidents/<int:incident_id>/notify/", incident_pages.incident_notify, name="incident-notify"),
]
