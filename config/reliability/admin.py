"""Admin: the outbox is visible (pending, sent, failed and why) and failed rows can be sent
again; nothing else can be edited by hand."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import Heartbeat, OutboxMessage
from .outbox import requeue


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = [
        "task_name",
        "state",
        "attempts",
        "created_at",
        "eta",
        "next_attempt_at",
        "finished_at",
        "last_error",
    ]
    list_filter = ["state", "task_name"]
    search_fields = ["id", "task_name", "last_error"]
    readonly_fields = [field.name for field in OutboxMessage._meta.fields]
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_requeue_permission(self, request):
        return request.user.is_superuser

    @admin.action(description=_("Send the selected failed messages again"), permissions=["requeue"])
    def send_again(self, request, queryset):
        count = requeue(queryset)
        self.message_user(
            request,
            ngettext("%d failed message is queued again.", "%d failed messages are queued again.", count) % count,
            messages.SUCCESS,
        )


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "last_completed_at", "last_host", "first_seen_at"]
    readonly_fields = [field.name for field in Heartbeat._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
