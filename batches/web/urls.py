from django.urls import path

from . import batch_pages, field, home, merchant, regulator, sales, trace, warehouse

app_name = "web"

urlpatterns = [
    path("", home.home, name="home"),
    path("accounts/login/", home.LoginView.as_view(), name="login"),
    path("accounts/logout/", home.LogoutView.as_view(), name="logout"),
    # every role, scoped
    path("batches/", batch_pages.batch_list, name="batch-list"),
    path("batches/new/", merchant.declare, name="declare"),
    path("batches/<str:number>/", batch_pages.batch_detail, name="batch-detail"),
    path("batches/<str:number>/edit/", merchant.edit, name="batch-edit"),
    path("batches/<str:number>/do/<slug:action>/", batch_pages.batch_action, name="batch-action"),
    path("sales/", sales.sale_list, name="sale-list"),
    path("sales/new/", sales.sale_new, name="sale-new"),
    path("sales/<int:sale_id>/void/", sales.sale_void, name="sale-void"),
    # market reviewer
    path("review/", batch_pages.review_queue, name="review-queue"),
    # warehouse operator
    path("scan/", warehouse.scan, name="scan"),
    path("warehouse/board/", warehouse.zone_board, name="zone-board"),
    path("warehouse/release/<str:number>/", warehouse.release_scan, name="release-scan"),
    # regulator
    path("dashboard/", regulator.dashboard, name="dashboard"),
    path("trace/", trace.trace, name="trace"),
    path("trace/codes/<str:token>/", trace.trace_code, name="trace-code"),
    path("trace/batches/<str:number>/", trace.trace_batch, name="trace-batch"),
    path("trace/merchants/<int:merchant_id>/", trace.merchant_sales, name="trace-merchant"),
    path("alerts/", regulator.notifications, name="notifications"),
    path("alerts/read/", regulator.notifications_read, name="notifications-read"),
    # field work: recall acknowledgement, live status (batches/web/field.py)
    path("notices/<int:notice_id>/ack/", field.notice_ack, name="notice-ack"),
    path("live/batches/<str:number>/", field.live_batch, name="live-batch"),
    path("live/board/", field.live_board, name="live-board"),
]
