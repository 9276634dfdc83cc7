from django.contrib import admin

from .models import LabelJob, Operator, Warehouse, Zone


class ZoneInline(admin.TabularInline):
    model = Zone
    extra = 0


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "district", "area_m2"]
    list_filter = ["district"]
    filter_horizontal = ["markets"]
    inlines = [ZoneInline]


@admin.register(Operator)
class OperatorAdmin(admin.ModelAdmin):
    list_display = ["user", "warehouse"]
    list_filter = ["warehouse"]
    raw_id_fields = ["user"]


@admin.register(LabelJob)
class LabelJobAdmin(admin.ModelAdmin):
    """Read-only: jobs are written by the label-sheet service and its task only."""

    list_display = ["batch", "state", "done", "total", "requested_by", "created_at", "finished_at"]
    list_filter = ["state"]
    search_fields = ["batch__number"]
    readonly_fields = [field.name for field in LabelJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
