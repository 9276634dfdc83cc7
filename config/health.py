"""GET /healthz: one answer per component, 200 when the system can do its work, else 503; and
the `version` of the running code (config/version.py).

- database, broker: reachable.
- beat: the rest sweep (R3) completed within 3 × REST_SWEEP_SECONDS. The sweep writes its
  completion time to the database (`reliability.Heartbeat`), so every web process on every
  machine sees a sweep run by any beat and worker. Start-up grace: a sweep that has never
  completed is "starting" for 3 × REST_SWEEP_SECONDS from the first time any process looked
  for it (the row is created then, e.g. on a fresh install), then "stale".
- outbox: rows not yet handed to the broker, and failed ones. Reported, but it does not turn
  the answer into 503: a relay that lags is for an alert (see /metrics), taking the web servers
  out of a load balancer would not bring it back.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from config.reliability.heartbeats import REST_SWEEP, freshness
from config.reliability.outbox import backlog

from .celery import app
from .version import VERSION


def healthz(request):
    body, healthy = {}, True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        body["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy; the type is in the answer
        body["database"] = f"error: {type(exc).__name__}"
        healthy = False
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        body["broker"] = "ok"
    except Exception as exc:
        body["broker"] = f"error: {type(exc).__name__}"
        healthy = False
    if body["database"] == "ok":
        beat = sweep_health()
        outbox = outbox_health()
        body.update(beat=beat, outbox=outbox)
        healthy = healthy and beat["status"] != "stale"
    else:
        body.update(beat={"status": "unknown"}, outbox={"status": "unknown"})
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "version": VERSION, **body}, status=200 if healthy else 503
    )


def sweep_health() -> dict:
    now = timezone.now()
    beat = freshness(REST_SWEEP, max_age=timedelta(seconds=3 * settings.REST_SWEEP_SECONDS), now=now)
    return {
        "status": beat.status,
        "last_sweep": timezone.localtime(beat.last_completed_at).isoformat() if beat.last_completed_at else None,
        "age_seconds": round(beat.age_seconds, 1) if beat.age_seconds is not None else None,
        "max_age_seconds": beat.max_age_seconds,
        **({"waiting_since": timezone.localtime(beat.waiting_since).isoformat()} if beat.status == "starting" else {}),
    }


def outbox_health() -> dict:
    state = backlog()
    return {
        "status": "lagging" if state.lagging else "ok",
        "pending": state.pending,
        "failed": state.failed,
        "oldest_due_seconds": round(state.oldest_due_seconds, 1) if state.oldest_due_seconds is not None else None,
    }
