"""The batches' pages: declaration, review, the batch list, detail and actions, sign-in.

config/urls.py assembles the one `web` namespace from this, `warehouse.web.urls` and
`markets.web.urls`, so no page layer imports a higher one (docs/architecture.md)."""

from django.urls import path

from . import batch_pages, field, home, merchant

urlpatterns = [
    path("accounts/login/", home.LoginView.as_view(), name="login"),
    path("accounts/logout/", home.LogoutView.as_view(), name="logout"),
    # every role, scoped
    path("batches/", batch_pages.batch_list, name="batch-list"),
    path("batches/new/", merchant.declare, name="declare"),
    path("batches/<str:number>/", batch_pages.batch_detail, name="batch-detail"),
    path("batches/<str:number>/edit/", merchant.edit, name="batch-edit"),
    path("batches/<str:number>/do/<slug:action>/", batch_pages.batch_action, name="batch-action"),
    # market reviewer
    path("review/", batch_pages.review_queue, name="review-queue"),
    # field work: recall acknowledgement, live status (batches/web/field.py)
    path("notices/<int:notice_id>/ack/", field.notice_ack, name="notice-ack"),
    path("live/batches/<str:number>/", field.live_batch, name="live-batch"),
    path("live/board/", field.live_board, name="live-board"),
]
