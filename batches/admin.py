"""Admin for batches is read-only: every change goes through the lifecycle services (R1, R6),
so no admin form can shorten a rest, set a status or touch an event."""

from django.contrib import admin

from .models import (
    Attachment,
    Batch,
    BatchDocument,
    BatchLine,
    Code,
    Event,
    Incident,
    IncidentContact,
    Notification,
    Seal,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LineInline(admin.TabularInline):
    model = BatchLine
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Batch)
class BatchAdmin(ReadOnlyAdmin):
    list_display = ["number", "status", "market", "merchant", "warehouse", "rest_until", "created_at"]
    list_filter = ["status", "market", "warehouse"]
    search_fields = ["number", "customs_declaration_no", "merchant__name"]
    inlines = [LineInline]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "batch",
        "action",
        "status_before",
        "status_after",
        "actor",
        "role",
        "at",
        "warehouse",
        "zone",
    ]
    list_filter = ["action", "role", "warehouse"]
    search_fields = ["batch__number"]


@admin.register(Code)
class CodeAdmin(ReadOnlyAdmin):
    list_display = ["token", "batch", "item_no", "serial", "status", "released_at"]
    list_filter = ["status"]
    search_fields = ["token", "batch__number"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["recipient", "kind", "batch", "title", "created_at", "read_at"]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    """Evidence photos: read-only like events (R6); the image opens from the batch page."""

    list_display = ["id", "batch", "kind", "uploaded_by", "role", "uploaded_at", "size"]
    list_filter = ["kind"]
    search_fields = ["batch__number"]


@admin.register(BatchDocument)
class BatchDocumentAdmin(ReadOnlyAdmin):
    """The declaration's papers: read-only; a wrong one is replaced by its merchant, never changed."""

    list_display = ["id", "batch", "kind", "content_type", "uploaded_by", "uploaded_at", "supersedes"]
    list_filter = ["kind"]
    search_fields = ["batch__number"]


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    """Incidents are handled on the regulator's pages and the API, which write their events."""

    list_display = ["id", "batch", "cycle", "opened_at", "state"]
    list_filter = ["state"]
    search_fields = ["batch__number"]


@admin.register(Seal)
class SealAdmin(ReadOnlyAdmin):
    list_display = ["id", "batch", "incident", "sealed_at", "sealed_by", "lifted_at", "lifted_by"]
    search_fields = ["batch__number"]


@admin.register(IncidentContact)
class IncidentContactAdmin(ReadOnlyAdmin):
    list_display = ["id", "incident", "kind", "name", "batch", "contacted_at"]
    list_filter = ["kind"]
