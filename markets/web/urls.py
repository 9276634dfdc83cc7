"""Sales, the regulator's pages and the home page, in the `web` namespace (assembled in
config/urls.py ahead of the batches' pages: the recall has the batch action's own path)."""

from django.urls import path

from . import home, regulator, sales, trace

urlpatterns = [
    path("", home.home, name="home"),
    # The recall answers with the buyers to contact (a markets surface) at the path of the
    # batch action `recall`, so `web:batch-action` still names it.
    path("batches/<str:number>/do/recall/", regulator.recall_page, name="batch-recall"),
    path("sales/", sales.sale_list, name="sale-list"),
    path("sales/new/", sales.sale_new, name="sale-new"),
    path("sales/<int:sale_id>/void/", sales.sale_void, name="sale-void"),
    # regulator
    path("dashboard/", regulator.dashboard, name="dashboard"),
    path("trace/", trace.trace, name="trace"),
    path("trace/codes/<str:token>/", trace.trace_code, name="trace-code"),
    path("trace/batches/<str:number>/", trace.trace_batch, name="trace-batch"),
    path("trace/merchants/<int:merchant_id>/", trace.merchant_sales, name="trace-merchant"),
    path("alerts/", regulator.notifications, name="notifications"),
    path("alerts/read/", regulator.notifications_read, name="notifications-read"),
]
