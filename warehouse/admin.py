from django.contrib import admin

from .models import Operator, Warehouse, Zone


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
