"""What keeps follow-up work from being lost, and what shows that the machinery is alive.

`OutboxMessage`: a task that a service started, written in the same transaction as the change
that needs it and handed to the Celery broker by a relay (`reliability.outbox`).
`Heartbeat`: the last time a periodic job (the rest sweep) completed, visible to every process
on every machine because it lives in the database.
"""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Pending")  # recorded; the broker does not have it yet
        SENT = "sent", _("Sent")  # handed to the broker, waiting for a worker
        RUNNING = "running", _("Running")  # claimed by a worker
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")  # gave up after OUTBOX_MAX_ATTEMPTS; kept for a person to look at

    # Also the Celery task id, so the task finds (and claims) its own row.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task_name = models.CharField(_("Task"), max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    eta = models.DateTimeField(_("Scheduled for"), null=True, blank=True)
    state = models.CharField(_("Status"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("Failed attempts"), default=0)
    # When the relay looks at the row next: a pending row at once (or after its backoff); a sent
    # or running one only if it has not finished by then (the broker may have lost it).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(_("Last error"), max_length=1000, blank=True)
    created_at = models.DateTimeField(_("Created at"), default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="outbox_state_next"),
            models.Index(fields=["state", "finished_at"], name="outbox_state_finished"),
        ]
        verbose_name = _("Outbox message")
        verbose_name_plural = _("Outbox message")

    def __str__(self):
        return f"{self.task_name} {self.state} ({self.pk})"


class Heartbeat(models.Model):
    """One row per periodic job. `first_seen_at` is when a process first looked for the job and
    found no record: the start-up grace of the health check is counted from there."""

    name = models.CharField(max_length=50, primary_key=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_completed_at = models.DateTimeField(null=True, blank=True)
    last_host = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("Periodic job heartbeat")
        verbose_name_plural = _("Periodic job heartbeat")

    def __str__(self):
        return self.name
