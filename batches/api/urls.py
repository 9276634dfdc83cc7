from django.urls import path

from ..actions import spec_of
from . import views as v

urlpatterns = [
    path("batches/", v.BatchListCreateView.as_view(), name="batch-list"),
    path("batches/<str:number>/", v.BatchDetailView.as_view(), name="batch-detail"),
    path("batches/<str:number>/events/", v.BatchEventsView.as_view(), name="batch-events"),
    path("batches/<str:number>/codes/", v.BatchCodesView.as_view(), name="batch-codes"),
    # One route per declared action (batches/actions.py), named after its slug.
    *(
        path(f"batches/<str:number>/{spec_of(action).slug}/", view.as_view(), name=f"batch-{spec_of(action).slug}")
        for action, view in v.ACTION_VIEWS.items()
    ),
    path("notifications/", v.NotificationListView.as_view(), name="notification-list"),
]
