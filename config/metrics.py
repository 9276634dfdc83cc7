"""GET /metrics: Prometheus text format, for the bureau's monitoring only.

Requests and latency come from django-prometheus's middleware (process-local counters). With
several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (scripts/run.sh does): each worker then
writes its counters to files there and a scrape of any worker adds them all up.

Everything about the warehouse — batches per status, rests overdue, the outbox's backlog and
failures, label jobs by state, the age of the last rest sweep — is computed from the database
at scrape time, so it is the same on every node and needs no multiprocess bookkeeping.

Access: only client addresses in METRICS_ALLOWED_IPS (default loopback; CIDR allowed) and, when
METRICS_TOKEN is set, only with `Authorization: Bearer <token>`; anything else answers 404 so the
endpoint does not reveal itself. A request that came through a reverse proxy (X-Forwarded-For)
is judged by the address that proxy saw, and only when PUBLIC_VERIFY_TRUSTED_PROXIES says the
proxy is ours; otherwise it does not pass the address rule, whatever REMOTE_ADDR says.
"""

import ipaddress

from django.conf import settings
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from batches.models import Batch, Status
from config.reliability.heartbeats import REST_SWEEP
from config.reliability.models import Heartbeat, OutboxMessage
from config.reliability.outbox import backlog
from warehouse.models import LabelJob


def metrics(request):
    if not metrics_allowed(request):
        raise Http404
    registry = CollectorRegistry(auto_describe=False)
    if settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(WarehouseCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _ThisProcess:
    """The default registry (this process's request counters) inside the scrape's registry."""

    def collect(self):
        yield from REGISTRY.collect()


def metrics_allowed(request) -> bool:
    if settings.METRICS_TOKEN:
        scheme, _space, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not constant_time_compare(given.strip(), settings.METRICS_TOKEN):
            return False
    if not settings.METRICS_ALLOWED_IPS:
        return bool(settings.METRICS_TOKEN)  # no address rule: the token alone decides
    address = _client_address(request)
    if address is None:
        return False
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if client in ipaddress.ip_network(allowed, strict=False):
                return True
        except ValueError:
            continue
    return False


def _client_address(request) -> str | None:
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return request.META.get("REMOTE_ADDR", "")
    proxies = settings.PUBLIC_VERIFY_TRUSTED_PROXIES
    if not proxies:
        return None  # came through a proxy we were not told about: REMOTE_ADDR is the proxy's
    return forwarded[-min(proxies, len(forwarded))]


class WarehouseCollector:
    """Gauges read from the database at scrape time (a handful of aggregate queries)."""

    def collect(self):
        now = timezone.now()
        by_status = dict(Batch.objects.order_by().values_list("status").annotate(n=Count("id")))
        batches = GaugeMetricFamily("warehouse_batches", "Batches by stored status.", labels=["status"])
        for status in Status.values:
            batches.add_metric([status], by_status.get(status, 0))
        yield batches

        overdue = Batch.objects.filter(status=Status.RESTING, rest_until__lte=now).count()
        yield GaugeMetricFamily(
            "warehouse_rests_overdue",
            "Batches still resting although rest_until has passed (timer and sweep behind).",
            value=overdue,
        )

        state = backlog(now=now)
        yield GaugeMetricFamily(
            "warehouse_outbox_backlog", "Outbox rows not yet handed to the broker.", value=state.pending
        )
        yield GaugeMetricFamily(
            "warehouse_outbox_failed", "Outbox rows given up after the last attempt.", value=state.failed
        )
        yield GaugeMetricFamily(
            "warehouse_outbox_oldest_due_seconds",
            "How long the oldest due pending outbox row has waited (0 if none).",
            value=state.oldest_due_seconds or 0.0,
        )
        by_state = dict(OutboxMessage.objects.order_by().values_list("state").annotate(n=Count("pk")))
        outbox = GaugeMetricFamily("warehouse_outbox_messages", "Outbox rows by state.", labels=["state"])
        for value in OutboxMessage.State.values:
            outbox.add_metric([value], by_state.get(value, 0))
        yield outbox

        jobs_by_state = dict(LabelJob.objects.order_by().values_list("state").annotate(n=Count("pk")))
        jobs = GaugeMetricFamily("warehouse_label_jobs", "Label-sheet jobs by state.", labels=["state"])
        for value in LabelJob.State.values:
            jobs.add_metric([value], jobs_by_state.get(value, 0))
        yield jobs

        last = Heartbeat.objects.filter(name=REST_SWEEP).values_list("last_completed_at", flat=True).first()
        yield GaugeMetricFamily(
            "warehouse_rest_sweep_last_completed_timestamp_seconds",
            "Unix time the rest sweep last completed (0 if never).",
            value=last.timestamp() if last else 0.0,
        )
