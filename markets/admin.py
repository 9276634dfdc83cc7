from django.contrib import admin

from .models import District, Market, Merchant, Regulator, Reviewer


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
    list_display = ["user", "district"]
    raw_id_fields = ["user"]
