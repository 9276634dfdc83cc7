"""Sales and the regulator's trace, under /api/ (SPEC §4)."""

from django.urls import path

from .sales_api import SaleDetailView, SaleListCreateView, SaleVoidView
from .trace_api import BatchEpcisView, BatchTraceView, CodeTraceView, MerchantSalesView, TraceSearchView

urlpatterns = [
    path("sales/", SaleListCreateView.as_view(), name="sale-list"),
    path("sales/<int:sale_id>/", SaleDetailView.as_view(), name="sale-detail"),
    path("sales/<int:sale_id>/void/", SaleVoidView.as_view(), name="sale-void"),
    path("trace/codes/<str:token>/", CodeTraceView.as_view(), name="trace-code"),
    path("trace/batches/<str:number>/", BatchTraceView.as_view(), name="trace-batch"),
    path("trace/batches/<str:number>/epcis/", BatchEpcisView.as_view(), name="trace-batch-epcis"),
    path("trace/merchants/<int:merchant_id>/sales/", MerchantSalesView.as_view(), name="trace-merchant-sales"),
    path("trace/search/", TraceSearchView.as_view(), name="trace-search"),
]
