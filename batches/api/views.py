"""Batch API: one view per operation. Each view finds the batch in the caller's scope (404),
checks the caller's role may take the action (403), validates input (400) and calls one
service, which checks the state (409) — the order of SPEC §4."""

import django_filters
from django.db import transaction
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..actors import Actor, actor_for, visible_batches
from ..lifecycle import role_may
from ..models import Batch, Code, Event, Notification, Role, Status
from . import serializers as s
from .idempotency import run_idempotent


def current_actor(request) -> Actor | None:
    return actor_for(request.user)


def scoped_batch(request, number: str) -> tuple[Batch, Actor]:
    actor = current_actor(request)
    batch = get_object_or_404(visible_batches(actor).select_related("market", "warehouse"), number=number)
    return batch, actor


def require_role(actor: Actor, action: str) -> None:
    if not role_may(actor.role, action):
        raise PermissionDenied(_("您的角色不能对此批次执行该操作。"))


def validated(input_class, request, **context) -> dict:
    if input_class is None:
        _ = request.data  # an action that takes no input still refuses a malformed body (400)
        return {}
    serializer = input_class(data=request.data, context=context)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- list, declare, detail, edit ----------------------------------------------------------


class BatchFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, method="filter_status")
    market = django_filters.CharFilter(field_name="market__code")
    warehouse = django_filters.CharFilter(field_name="warehouse__code")
    district = django_filters.CharFilter(field_name="market__district__code")
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = Batch
        fields = ["status", "market", "warehouse", "district"]

    def filter_status(self, queryset, name, value):
        """By the status as it is now (Batch.current_status): a batch resting past rest_until
        is listed under rest_complete, not resting (R1)."""
        if not value:
            return queryset
        now = timezone.now()
        chosen = Q(status__in=[v for v in value if v not in (Status.RESTING, Status.REST_COMPLETE)])
        if Status.RESTING in value:
            chosen |= Q(status=Status.RESTING, rest_until__gt=now)
        if Status.REST_COMPLETE in value:
            chosen |= Q(status=Status.REST_COMPLETE) | Q(status=Status.RESTING, rest_until__lte=now)
        return queryset.filter(chosen)

    def filter_search(self, queryset, name, value):
        return queryset.filter(
            Q(number__icontains=value)
            | Q(customs_declaration_no__icontains=value)
            | Q(merchant__name__icontains=value)
            | Q(lines__product_name__icontains=value)
        ).distinct()


class BatchListCreateView(generics.ListAPIView):
    serializer_class = s.BatchSummary
    filterset_class = BatchFilter
    answers_conflict = False  # a declaration starts a batch; no state to conflict with
    idempotent_methods = ("POST",)

    def get_queryset(self):
        queryset = visible_batches(current_actor(self.request)).select_related("market", "warehouse", "merchant")
        # The reviewers' approval queue reads oldest first.
        if self.request.query_params.get("status") == Status.SUBMITTED:
            return queryset.order_by("status_changed_at", "id")
        return queryset.order_by("-created_at", "-id")

    @extend_schema(request=s.DeclareInput, responses={201: s.BatchDetail})
    def post(self, request):
        return run_idempotent(self, request, lambda: self._declare(request))

    def _declare(self, request):
        actor = current_actor(request)
        if actor is None or actor.role != Role.MERCHANT:
            raise PermissionDenied(_("只有经营户可以申报批次。"))
        data = validated(s.DeclareInput, request, actor=actor)
        batch = services.batch_declare(actor=actor, **data)
        return Response(s.render_detail(batch, actor), status=status.HTTP_201_CREATED)


class BatchDetailView(APIView):
    @extend_schema(responses=s.BatchDetail)
    def get(self, request, number):
        batch, actor = scoped_batch(request, number)
        return Response(s.render_detail(batch, actor))

    @extend_schema(request=s.EditInput, responses=s.BatchDetail)
    def patch(self, request, number):
        batch, actor = scoped_batch(request, number)
        require_role(actor, "edit")
        data = validated(s.EditInput, request)
        lines = data.pop("lines", None)
        services.batch_edit(batch=batch, actor=actor, fields=data, lines=lines)
        return Response(s.render_detail(batch, actor))


class BatchEventsView(generics.ListAPIView):
    serializer_class = s.EventOutput
    queryset = Event.objects.none()  # for the schema only; get_queryset() scopes every request

    def get_queryset(self):
        batch, _actor = scoped_batch(self.request, self.kwargs["number"])
        return batch.events.select_related("actor", "warehouse").order_by("id")


# --- actions ------------------------------------------------------------------------------


class BatchActionView(APIView):
    """POST /api/batches/{number}/<action>/ → the batch detail after the action."""

    action_name: str = ""
    idempotent_methods = ("POST",)
    input_class = None
    success_status = status.HTTP_200_OK
    service = None  # (batch, actor, data) -> the service call; set by action_view()

    def post(self, request, number):
        return run_idempotent(self, request, lambda: self.act(request, number))

    def act(self, request, number):
        batch, actor = scoped_batch(request, number)
        require_role(actor, self.action_name)
        data = validated(self.input_class, request, batch=batch, actor=actor)
        type(self).service(batch, actor, data)
        return Response(s.render_detail(batch, actor), status=self.success_status)


def action_view(action: str, perform, input_class=None, success_status=status.HTTP_200_OK):
    """An action view class: `perform(batch, actor, data)` calls the service."""
    name = "".join(part.title() for part in action.split("_")) + "View"

    # A function of its own per view: extend_schema annotates the function object, so
    # decorating the shared BatchActionView.post would give every action the last one's schema.
    def post(self, request, number):
        return BatchActionView.post(self, request, number)

    post = extend_schema(
        request=input_class, responses={success_status: s.BatchDetail}, operation_id=f"batches_{action}"
    )(post)
    return type(
        name,
        (BatchActionView,),
        {
            "action_name": action,
            "input_class": input_class,
            "success_status": success_status,
            "service": staticmethod(perform),
            "post": post,
        },
    )


SubmitView = action_view("submit", lambda b, a, d: services.batch_submit(batch=b, actor=a))
ApproveView = action_view("approve", lambda b, a, d: services.batch_approve(batch=b, actor=a, **d), s.ApproveInput)
RejectView = action_view("reject", lambda b, a, d: services.batch_reject(batch=b, actor=a, **d), s.ReasonInput)
ReviseView = action_view("revise", lambda b, a, d: services.batch_revise(batch=b, actor=a))
ArriveView = action_view(
    "arrive",
    lambda b, a, d: services.batch_arrive(batch=b, actor=a, lines=d["lines"], seen_status=d.get("status")),
    s.ArriveInput,
)
ReturnView = action_view("return", lambda b, a, d: services.batch_return(batch=b, actor=a, **d), s.OptionalReasonInput)
DisinfectView = action_view(
    "disinfect",
    lambda b, a, d: services.batch_disinfect(batch=b, actor=a, **d),
    s.DisinfectInput,
    status.HTTP_201_CREATED,
)
MoveToRestingView = action_view("move_to_resting", lambda b, a, d: services.batch_move_to_resting(batch=b, actor=a))
SampleView = action_view(
    "sample",
    lambda b, a, d: services.batch_record_sample(batch=b, actor=a, **d),
    s.SampleInput,
    status.HTTP_201_CREATED,
)
TestResultView = action_view(
    "test_result",
    lambda b, a, d: services.batch_record_test_result(batch=b, actor=a, **d),
    s.TestResultInput,
    status.HTTP_201_CREATED,
)
MoveToStorageView = action_view("move_to_storage", lambda b, a, d: services.batch_move_to_storage(batch=b, actor=a))
IssueCodesView = action_view("issue_codes", lambda b, a, d: services.batch_issue_codes(batch=b, actor=a))
ReleaseView = action_view(
    "release",
    lambda b, a, d: services.batch_release(batch=b, actor=a, tokens=d.get("codes"), release_all=d["all"]),
    s.ReleaseInput,
)
RedisinfectView = action_view(
    "redisinfect", lambda b, a, d: services.batch_redisinfect(batch=b, actor=a, **d), s.ReasonInput
)
DestroyView = action_view("destroy", lambda b, a, d: services.batch_destroy(batch=b, actor=a, **d), s.ReasonInput)


# --- notifications ------------------------------------------------------------------------


class NotificationOutput(s.serializers.ModelSerializer):
    batch = s.serializers.CharField(source="batch.number", allow_null=True, default=None)

    class Meta:
        model = Notification
        fields = ["id", "kind", "batch", "title", "body", "created_at", "read_at"]


class NotificationListView(generics.ListAPIView):
    """The signed-in user's own notifications (e.g. positive-result alerts for regulators)."""

    serializer_class = NotificationOutput
    every_signed_in_user_may = True  # no role is refused (config.openapi)
    queryset = Notification.objects.none()  # for the schema only; get_queryset() scopes every request

    def get_queryset(self):
        return Notification.objects.filter(recipient=self.request.user).select_related("batch")


# --- codes --------------------------------------------------------------------------------


class CodeOutput(s.serializers.Serializer):
    token = s.serializers.CharField()
    serial = s.serializers.CharField(help_text="GS1 AI 21 serial of the Digital Link: random, 16 characters")
    item_no = s.serializers.IntegerField(help_text="the item's number within the batch, as printed on its label")
    status = s.serializers.CharField()
    url = s.serializers.SerializerMethodField()

    def get_url(self, code) -> str:
        return services.code_url(
            token=code.token, gtin=code.line.gtin, batch_number=code.batch.number, serial=code.serial
        )


class BatchCodesView(generics.ListAPIView):
    serializer_class = CodeOutput
    queryset = Code.objects.none()  # for the schema only; get_queryset() scopes every request

    def get_queryset(self):
        batch, _actor = scoped_batch(self.request, self.kwargs["number"])
        return batch.codes.select_related("line", "batch").order_by("item_no")


# --- recall (docs/contract.md §3, §4) --------------------------------------------------------


class RecallView(BatchActionView):
    """POST /api/batches/{number}/recall/ (regulator, {"reason"}): 200 with the batch detail as
    it is after the recall plus `buyers`, everyone to contact (SPEC §4).

    The recall, the buyer list and the record of that look-up commit together or not at all.
    An `Idempotency-Key` record keeps no buyer: its replay looks the buyers up again."""

    action_name = "recall"
    input_class = s.ReasonInput
    REBUILT_AT_REPLAY = "_rebuilt_at_replay"

    @extend_schema(request=s.ReasonInput, responses={200: s.BatchDetail}, operation_id="batches_recall")
    def post(self, request, number):
        return super().post(request, number)

    def act(self, request, number):
        from markets.models import TraceQueryKind
        from markets.services import trace_query_record

        with transaction.atomic():
            batch, actor = scoped_batch(request, number)
            require_role(actor, self.action_name)
            data = validated(self.input_class, request, batch=batch, actor=actor)
            services.batch_recall(batch=batch, actor=actor, reason=data["reason"])
            buyers = self.buyers(batch, actor)
            trace_query_record(actor=actor, kind=TraceQueryKind.RECALL, subject=batch.number, result_count=len(buyers))
            return Response({**s.render_detail(batch, actor), "buyers": buyers})

    @staticmethod
    def buyers(batch, actor) -> list[dict]:
        from markets.selectors import recall_buyers

        return recall_buyers(actor=actor, batch=batch)

    def stored_body(self, body):
        """The answer without its buyers (personal data), marked to look them up at replay."""
        if isinstance(body, dict) and "buyers" in body:
            body = {name: value for name, value in body.items() if name != "buyers"}
            body[self.REBUILT_AT_REPLAY] = ["buyers"]
        return body

    def replayed_body(self, request, body):
        if isinstance(body, dict) and self.REBUILT_AT_REPLAY in body:
            batch, actor = scoped_batch(request, self.kwargs["number"])
            body = {name: value for name, value in body.items() if name != self.REBUILT_AT_REPLAY}
            body["buyers"] = self.buyers(batch, actor)
        return body
