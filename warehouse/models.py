"""Supervision warehouses (集中监管仓), their zones and their crews."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ZoneKind(models.TextChoices):
    PRE_STORAGE = "pre_storage", _("Pre-storage zone")
    RESTING = "resting", _("Resting zone")
    STORAGE = "storage", _("Storage zone")


class Warehouse(models.Model):
    code = models.CharField(pgettext_lazy("identifier", "Code"), max_length=32, unique=True)
    name = models.CharField(_("Name"), max_length=200)
    district = models.ForeignKey("markets.District", on_delete=models.PROTECT, related_name="warehouses")
    address = models.CharField(_("Address"), max_length=200, blank=True)
    area_m2 = models.PositiveIntegerField(_("Area (m²)"), null=True, blank=True)
    markets = models.ManyToManyField("markets.Market", related_name="warehouses", verbose_name=_("Markets served"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("Warehouse")
        verbose_name_plural = _("Warehouse")

    def __str__(self):
        return f"{self.code} {self.name}"


class Zone(models.Model):
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="zones")
    kind = models.CharField(_("Zone"), max_length=20, choices=ZoneKind.choices)
    name = models.CharField(_("Name"), max_length=200, blank=True)
    capacity_items = models.PositiveIntegerField(_("Capacity (items)"), null=True, blank=True)

    class Meta:
        ordering = ["warehouse", "kind"]
        constraints = [models.UniqueConstraint(fields=["warehouse", "kind"], name="zone_unique_kind")]
        verbose_name = _("Zone")
        verbose_name_plural = _("Zone")

    def __str__(self):
        return f"{self.warehouse.code} {self.get_kind_display()}"


class Operator(models.Model):
    """Warehouse crew member: every scan and record inside one warehouse."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="operator")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="operators")

    class Meta:
        verbose_name = _("Warehouse operator")
        verbose_name_plural = _("Warehouse operator")

    def __str__(self):
        return f"{self.user.get_username()} @ {self.warehouse.code}"


class LabelJob(models.Model):
    """A label sheet too large to answer at once (more codes than LABELS_SYNC_MAX), built by a
    Celery task (`warehouse.tasks.build_label_sheet`) while the operator polls its progress."""

    class State(models.TextChoices):
        PENDING = "pending", _("Queued")
        RUNNING = "running", _("Building")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    # Random, so a job's address cannot be guessed from another's.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey("batches.Batch", on_delete=models.CASCADE, related_name="label_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    state = models.CharField(_("Status"), max_length=10, choices=State.choices, default=State.PENDING)
    total = models.PositiveIntegerField(_("Labels in total"))
    done = models.PositiveIntegerField(_("Labels built"), default=0)
    file = models.FileField(_("PDF file"), upload_to="labels/", blank=True)
    # Why the last build failed, for the person who prints: a code (see label_sheets.FAILURES)
    # and its message; the technical details go to the worker's log, never here.
    error_code = models.CharField(_("error code"), max_length=40, blank=True)
    error = models.CharField(_("Error"), max_length=500, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life of the build (claim or progress): a running job silent for
    # LABEL_JOB_STALE_SECONDS lost its worker and may be retried.
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["batch", "state"], name="labeljob_batch_state")]
        verbose_name = _("Label printing job")
        verbose_name_plural = _("Label printing job")

    def __str__(self):
        return f"{self.batch} labels {self.done}/{self.total} ({self.state})"
