"""Heartbeats of periodic jobs, in the database so that every process on every machine sees
the last completion of a job run by any beat or worker anywhere (health check, metrics)."""

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Heartbeat

REST_SWEEP = "rest_sweep"


def record_completion(name: str, *, now=None) -> None:
    """The job `name` has just completed (one UPDATE; the row is created the first time)."""
    now = now or timezone.now()
    host = f"{socket.gethostname()}:{os.getpid()}"[:200]
    if Heartbeat.objects.filter(name=name).update(last_completed_at=now, last_host=host):
        return
    try:
        with transaction.atomic():
            Heartbeat.objects.create(name=name, first_seen_at=now, last_completed_at=now, last_host=host)
    except IntegrityError:  # another process created it meanwhile
        Heartbeat.objects.filter(name=name).update(last_completed_at=now, last_host=host)


@dataclass(frozen=True)
class Freshness:
    status: str  # "ok", "starting" (no completion yet, within the grace) or "stale"
    last_completed_at: datetime | None
    age_seconds: float | None
    max_age_seconds: float
    waiting_since: datetime

    @property
    def healthy(self) -> bool:
        return self.status != "stale"


def freshness(name: str, *, max_age: timedelta, now=None) -> Freshness:
    """Whether `name` completed within `max_age`. A job that never completed is given `max_age`
    of grace from the first time any process looked for it (the row is created then), so a
    system that has just been installed or migrated is not reported dead before its first run."""
    now = now or timezone.now()
    beat = Heartbeat.objects.filter(name=name).first()
    if beat is None:
        try:
            with transaction.atomic():
                beat = Heartbeat.objects.create(name=name, first_seen_at=now)
        except IntegrityError:
            beat = Heartbeat.objects.get(name=name)
    if beat.last_completed_at is None:
        status = "starting" if now - beat.first_seen_at <= max_age else "stale"
        return Freshness(status, None, None, max_age.total_seconds(), beat.first_seen_at)
    age = now - beat.last_completed_at
    return Freshness(
        "ok" if age <= max_age else "stale",
        beat.last_completed_at,
        max(age.total_seconds(), 0.0),
        max_age.total_seconds(),
        beat.first_seen_at,
    )
