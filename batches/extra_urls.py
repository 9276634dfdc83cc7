"""URL entries of the regulator's reach (evidence photos, incidents): API under /api/ and pages,
kept apart from the core's url modules (config/urls.py includes both lists)."""

from django.urls import path

from . import evidence_pages
from .api import attachments as attachment_api

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
]
