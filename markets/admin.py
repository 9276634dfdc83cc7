from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from batches.admin import ReadOnlyAdmin

from .models import (
    BuyerAnonymisationRun,
    District,
    Market,
    Merchant,
    Regulator,
    Reviewer,
    Sale,
    SaleItem,
    TraceQuery,
    mask_mobile,
)


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name"]


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ["name", "stall", "market", "licence_no", "phone", "user"]
    list_filter = ["market"]
    search_fields = ["name", "stall", "licence_no", "phone", "user__username"]
    raw_id_fields = ["user"]


@admin.register(Reviewer)
class ReviewerAdmin(admin.ModelAdmin):
    list_display = ["user", "market"]
    list_filter = ["market"]
    raw_id_fields = ["user"]


@admin.register(Regulator)
class RegulatorAdmin(admin.ModelAdmin):
    list_display = ["user", "district", "city_level"]
    list_filter = ["city_level", "district"]
    raw_id_fields = ["user"]


class SaleItemInline(admin.TabularInline):
    model = SaleItem
    fields = ["code", "voided"]
    readonly_fields = fields
    can_delete = False
    extra = 0


@admin.register(Sale)
class SaleAdmin(admin.ModelAdmin):
    """Read-only: sales are recorded and voided through the services (R4), never edited here.
    The buyer's phone is shown masked, as to anyone but a regulator."""

    list_display = ["id", "merchant", "buyer_name", "phone", "buyer_kind", "sold_at", "voided_at"]
    list_filter = ["buyer_kind", "merchant__market"]
    date_hierarchy = "sold_at"
    fields = [
        "merchant",
        "sold_by",
        "buyer_name",
        "phone",
        "buyer_kind",
        "buyer_credit_code",
        "sold_at",
        "voided_at",
        "voided_by",
        "void_reason",
        "buyer_anonymised_at",
    ]
    readonly_fields = fields
    inlines = [SaleItemInline]

    @admin.display(description=_("Buyer mobile phone"))
    def phone(self, sale):
        return mask_mobile(sale.buyer_phone) if sale.buyer_phone else ""  # empty once anonymised

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TraceQuery)
class TraceQueryAdmin(ReadOnlyAdmin):
    """The record of trace queries: read, never changed."""

    list_display = ["at", "user", "role", "kind", "subject", "found", "result_count"]
    list_filter = ["kind", "found"]
    search_fields = ["subject", "user__username"]
    readonly_fields = ["at", "user", "role", "kind", "subject", "parameters", "found", "result_count"]


@admin.register(BuyerAnonymisationRun)
class BuyerAnonymisationRunAdmin(ReadOnlyAdmin):
    """When buyers' data was anonymised, and how much (markets.retention): read, never changed."""

    list_display = ["started_at", "finished_at", "retention_days", "cutoff", "sales_anonymised"]
    readonly_fields = list_display
