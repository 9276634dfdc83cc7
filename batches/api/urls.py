from django.urls import path

from . import views as v

urlpatterns = [
    path("batches/", v.BatchListCreateView.as_view(), name="batch-list"),
    path("batches/<str:number>/", v.BatchDetailView.as_view(), name="batch-detail"),
    path("batches/<str:number>/events/", v.BatchEventsView.as_view(), name="batch-events"),
    path("batches/<str:number>/codes/", v.BatchCodesView.as_view(), name="batch-codes"),
    path("batches/<str:number>/submit/", v.SubmitView.as_view(), name="batch-submit"),
    path("batches/<str:number>/approve/", v.ApproveView.as_view(), name="batch-approve"),
    path("batches/<str:number>/reject/", v.RejectView.as_view(), name="batch-reject"),
    path("batches/<str:number>/revise/", v.ReviseView.as_view(), name="batch-revise"),
    path("batches/<str:number>/arrive/", v.ArriveView.as_view(), name="batch-arrive"),
    path("batches/<str:number>/return/", v.ReturnView.as_view(), name="batch-return"),
    path("batches/<str:number>/disinfect/", v.DisinfectView.as_view(), name="batch-disinfect"),
    path("batches/<str:number>/move-to-resting/", v.MoveToRestingView.as_view(), name="batch-move-to-resting"),
    path("batches/<str:number>/samples/", v.SampleView.as_view(), name="batch-samples"),
    path("batches/<str:number>/test-results/", v.TestResultView.as_view(), name="batch-test-results"),
    path("batches/<str:number>/move-to-storage/", v.MoveToStorageView.as_view(), name="batch-move-to-storage"),
    path("batches/<str:number>/issue-codes/", v.IssueCodesView.as_view(), name="batch-issue-codes"),
    path("batches/<str:number>/release/", v.ReleaseView.as_view(), name="batch-release"),
    path("batches/<str:number>/redisinfect/", v.RedisinfectView.as_view(), name="batch-redisinfect"),
    path("batches/<str:number>/destroy/", v.DestroyView.as_view(), name="batch-destroy"),
    path("batches/<str:number>/recall/", v.RecallView.as_view(), name="batch-recall"),
    path("notifications/", v.NotificationListView.as_view(), name="notification-list"),
]
