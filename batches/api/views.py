"""Batch API: one view per operation. Each view finds the batch in the caller's scope (404),
checks the caller's role may take the action (403), validates input (400) and calls one
service, which checks the state (409) — the order of SPEC §4."""

import django_filters
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from markets.selectors import recall_buyers
from markets.services import batch_recall_with_buyers

from .. import services
from ..actions import Action, ActionSpec, Capability, declared, require, spec_of
from ..actors import Actor, actor_for, visible_batches
from ..models import Batch, Code, Event, Notification, Status
from . import serializers as s
from .idempotency import run_idempotent


def current_actor(request) -> Actor | None:
    return actor_for(request.user)


def scoped_batch(request, number: str) -> tuple[Batch, Actor]:
    actor = current_actor(request)
    batch = get_object_or_404(visible_batches(actor).select_related("market", "warehouse"), number=number)
    return batch, actor


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
        return queryset.search(value)


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
        require(actor, Capability.DECLARE)
        data = validated(s.DeclareInput, request, actor=actor)
        batch = services.batch_declare(actor=actor, **data)
        return Response(s.render_detail(batch, actor), status=status.HTTP_201_CREATED)


class BatchDetailView(APIView):
    @extend_schema(responses=s.BatchDetail)
    def get(self, request, number):
        actor = current_actor(request)
        batch = s.detail_batch(actor, number)
        if batch is None:
            raise Http404
        return Response(s.render_detail(batch, actor))

    @extend_schema(request=s.EditInput, responses=s.BatchDetail)
    def patch(self, request, number):
        batch, actor = scoped_batch(request, number)
        require(actor, Action.EDIT)
        data = validated(spec_of(Action.EDIT).input, request)
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

    # One class per declared action (batches/actions.py), made by `action_view()`; the
    # docstring is the operation's description in the schema.

    spec: ActionSpec
    idempotent_methods = ("POST",)

    def post(self, request, number):
        return run_idempotent(self, request, lambda: self.act(request, number))

    def act(self, request, number):
        batch, actor = scoped_batch(request, number)
        require(actor, self.spec.name)
        data = validated(self.spec.input, request, batch=batch, actor=actor)
        self.spec.service(batch=batch, actor=actor, **data)
        return Response(s.render_detail(batch, actor), status=self.spec.success_status)


def view_name(action: str) -> str:
    return "".join(part.title() for part in action.split("_")) + "View"


def action_view(spec: ActionSpec, base: type = BatchActionView) -> type:
    """The view class of a declared action, its schema read from the declaration."""

    # A function of its own per view: extend_schema annotates the function object, so
    # decorating the shared BatchActionView.post would give every action the last one's schema.
    def post(self, request, number):
        return base.post(self, request, number)

    post = extend_schema(
        request=spec.input, responses={spec.success_status: s.BatchDetail}, operation_id=f"batches_{spec.name}"
    )(post)
    return type(view_name(spec.name), (base,), {"spec": spec, "post": post})


class RecallAnswer(BatchActionView):
    """POST /api/batches/{number}/recall/ (regulator, {"reason"}): 200 with the batch detail as
    it is after the recall plus `buyers`, everyone to contact (SPEC §4).

    The recall, the buyer list and the record of that look-up commit together or not at all.
    An `Idempotency-Key` record keeps no buyer: its replay looks the buyers up again."""

    REBUILT_AT_REPLAY = "_rebuilt_at_replay"

    # markets.services.batch_recall_with_buyers: the one recall service, the recall page's too.
    def act(self, request, number):
        with transaction.atomic():
            batch, actor = scoped_batch(request, number)
            require(actor, self.spec.name)
            data = validated(self.spec.input, request, batch=batch, actor=actor)
            buyers = batch_recall_with_buyers(batch=batch, actor=actor, reason=data["reason"])
            return Response({**s.render_detail(batch, actor), "buyers": buyers})

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
            body["buyers"] = recall_buyers(actor=actor, batch=batch)
        return body


# Actions whose answer is more than the batch detail.
ANSWERS = {Action.RECALL: RecallAnswer}

# action → its view class, for every declared action that has a route (batches/api/urls.py).
ACTION_VIEWS: dict[str, type] = {
    spec.name: action_view(spec, ANSWERS.get(spec.name, BatchActionView)) for spec in declared() if spec.slug
}


# --- notifications ------------------------------------------------------------------------


class NotificationOutput(serializers.ModelSerializer):
    batch = serializers.CharField(source="batch.number", allow_null=True, default=None)
    title = serializers.CharField(source="shown_title", help_text="in the language of the request")
    body = serializers.CharField(source="shown_body", help_text="in the language of the request")
    unread = serializers.SerializerMethodField()
    serious = serializers.BooleanField(help_text="recall, seal, quarantine, positive result: also sent by SMS/e-mail")

    class Meta:
        model = Notification
        fields = ["id", "kind", "batch", "title", "body", "created_at", "read_at", "unread", "serious"]

    def get_unread(self, notice) -> bool:
        return notice.read_at is None


class NotificationListView(generics.ListAPIView):
    """The signed-in user's own notices, newest first (docs/contract.md "Notices"): merchants'
    approvals, rejections, discrepancies, quarantines, seals and recalls; reviewers' submissions;
    operators' approved arrivals and completed rests; regulators' positive results."""

    serializer_class = NotificationOutput
    every_signed_in_user_may = True  # no role is refused (config.openapi)
    queryset = Notification.objects.none()  # for the schema only; get_queryset() scopes every request

    def get_queryset(self):
        return Notification.objects.filter(recipient=self.request.user).select_related("batch")


# --- codes --------------------------------------------------------------------------------


class CodeOutput(serializers.Serializer):
    token = serializers.CharField()
    serial = serializers.CharField(help_text="GS1 AI 21 serial of the Digital Link: random, 16 characters")
    item_no = serializers.IntegerField(help_text="the item's number within the batch, as printed on its label")
    status = serializers.CharField()
    url = serializers.SerializerMethodField()

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
