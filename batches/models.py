"""Batches of imported goods and everything recorded about them (SPEC §3).

Nothing here assigns `Batch.status`: every change of status goes through
`batches.lifecycle.transition` (or its bulk twin for the rest sweep), which writes the event.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    REJECTED = "rejected", _("Rejected")
    APPROVED = "approved", _("Approved, awaiting arrival")
    DISCREPANCY = "discrepancy", _("Discrepancy")
    RETURNED = "returned", _("Returned")
    PRE_STORAGE = "pre_storage", _("Pre-storage (disinfection)")
    RESTING = "resting", _("Resting")
    REST_COMPLETE = "rest_complete", _("Rest complete")
    QUARANTINED = "quarantined", _("Quarantined (positive)")
    DESTROYED = "destroyed", _("Destroyed")
    STORED = "stored", _("In storage")
    CODED = "coded", _("Coded")
    RELEASED = "released", _("Released")
    RECALLED = "recalled", _("Recalled")


class Role(models.TextChoices):
    MERCHANT = "merchant", _("Merchant")
    REVIEWER = "reviewer", _("Market reviewer")
    OPERATOR = "operator", _("Warehouse operator")
    REGULATOR = "regulator", _("Regulator")
    SYSTEM = "system", _("System")


class BatchQuerySet(models.QuerySet):
    # What "search" looks in, for the batch list (API `?search=` and the page) ...
    SEARCH_FIELDS = ("number", "customs_declaration_no", "merchant__name", "lines__product_name")
    # ... and in the reviewer's queue, where every batch is of the same market.
    QUEUE_SEARCH_FIELDS = ("number", "customs_declaration_no", "lines__product_name", "origin_country")

    def search(self, text: str, fields=SEARCH_FIELDS):
        """Batches with `text` in any of `fields` (case-insensitive), each once."""
        if not text:
            return self
        match = models.Q()
        for name in fields:
            match |= models.Q(**{f"{name}__icontains": text})
        if "origin_country" in fields:
            from .countries import codes_matching  # the country by its name, in either language

            match |= models.Q(origin_country__in=codes_matching(text))
        return self.filter(match).distinct()


class Batch(models.Model):
    number = models.CharField(_("Batch number"), max_length=40, unique=True)
    market = models.ForeignKey("markets.Market", on_delete=models.PROTECT, related_name="batches")
    merchant = models.ForeignKey("markets.Merchant", on_delete=models.PROTECT, related_name="batches")
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", on_delete=models.PROTECT, related_name="batches", null=True, blank=True
    )
    status = models.CharField(_("Status"), max_length=20, choices=Status.choices, default=Status.DRAFT)
    customs_declaration_no = models.CharField(_("Customs declaration no."), max_length=64)
    # An ISO 3166-1 alpha-2 code (batches.countries); the free text of a declaration made before
    # codes is kept in origin_country_declared by the migration that mapped it.
    origin_country = models.CharField(_("Country of origin"), max_length=100)
    origin_country_declared = models.CharField(_("Country of origin as declared"), max_length=100, blank=True)
    port_of_entry = models.CharField(_("Port of entry"), max_length=100)
    reject_reason = models.CharField(_("Reason for rejection"), max_length=500, blank=True)
    # One cycle = one stay in pre-storage, its disinfection and the rest that follows.
    # Redisinfection after a positive result starts a new cycle (SPEC §3, R2).
    cycle = models.PositiveIntegerField(default=1)
    rest_started_at = models.DateTimeField(_("Rest started"), null=True, blank=True)
    rest_until = models.DateTimeField(_("Rest until"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "rest_until"], name="batch_status_rest_until"),
            models.Index(fields=["market", "status"], name="batch_market_status"),
            models.Index(fields=["warehouse", "status"], name="batch_warehouse_status"),
        ]
        verbose_name = _("Batch")
        verbose_name_plural = _("Batch")

    def __str__(self):
        return self.number

    def rest_is_over(self, now=None) -> bool:
        """Resting, and `rest_until` has passed: the rest is over whether or not the timer has
        run yet (R1, "time is the truth")."""
        return (
            self.status == Status.RESTING and self.rest_until is not None and self.rest_until <= (now or timezone.now())
        )

    def current_status(self, now=None) -> str:
        """The status as it truly is now, derived on read: a batch resting past `rest_until` is
        `rest_complete`, although the row says `resting` until the timer, the sweep or the next
        action writes the `complete_rest` event (R1). Reading writes nothing, so a page view or
        a list never changes the record; the first action on the batch completes the rest in its
        own transaction (`lifecycle.transition`), and filters treat it as `rest_complete` too."""
        return Status.REST_COMPLETE if self.rest_is_over(now) else self.status

    def get_current_status_display(self) -> str:
        return str(Status(self.current_status()).label)


class BatchLine(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="lines")
    product_name = models.CharField(_("Product name"), max_length=200)
    category = models.CharField(_("Category"), max_length=100)
    specification = models.CharField(_("Specification"), max_length=200)
    quantity = models.PositiveIntegerField(_("Declared quantity"))
    unit = models.CharField(_("Unit"), max_length=20)
    gtin = models.CharField(_("GTIN"), max_length=14, blank=True)
    received_quantity = models.PositiveIntegerField(_("Received quantity"), null=True, blank=True)
    type_matches = models.BooleanField(null=True, blank=True)
    spec_matches = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="line_quantity_positive")]
        verbose_name = _("Goods line")
        verbose_name_plural = _("Goods line")

    def __str__(self):
        return f"{self.product_name} {self.specification} × {self.quantity}"


class Disinfection(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="disinfections")
    cycle = models.PositiveIntegerField()
    agent = models.CharField(_("Disinfectant"), max_length=100)
    concentration = models.CharField(_("Concentration"), max_length=50)
    method = models.CharField(_("Method"), max_length=100)
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    performed_at = models.DateTimeField()

    class Meta:
        ordering = ["performed_at", "id"]
        verbose_name = _("Disinfection record")
        verbose_name_plural = _("Disinfection record")


class Sample(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="samples")
    cycle = models.PositiveIntegerField()
    sample_no = models.CharField(_("Sample no."), max_length=64)
    lab = models.CharField(_("Laboratory"), max_length=200)
    taken_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["taken_at", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "sample_no"], name="sample_unique_no")]
        verbose_name = _("Nucleic acid sample")
        verbose_name_plural = _("Nucleic acid sample")


class TestResult(models.Model):
    class Outcome(models.TextChoices):
        NEGATIVE = "negative", _("Negative")
        POSITIVE = "positive", _("Positive")
        INVALID = "invalid", _("Invalid")

    __test__ = False  # not a pytest test class

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="results")
    result = models.CharField(_("Result"), max_length=10, choices=Outcome.choices)
    report_no = models.CharField(_("Report no."), max_length=64)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["recorded_at", "id"]
        verbose_name = _("Test result")
        verbose_name_plural = _("Test result")


class CodeStatus(models.TextChoices):
    IN_WAREHOUSE = "in_warehouse", _("In warehouse")
    RELEASED = "released", _("Released (in the market)")
    SOLD = "sold", _("Sold")
    RECALLED = "recalled", _("Recalled")


class Code(models.Model):
    """One item's code (赋码). `token` is random and unguessable; the QR encodes its URL."""

    # No index of its own: code_unique_item_no and code_batch_status begin with the batch.
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="codes", db_index=False)
    line = models.ForeignKey(BatchLine, on_delete=models.PROTECT, related_name="codes")
    # The item's number within the batch (1, 2, …): printed on the label and shown on pages.
    item_no = models.PositiveIntegerField()
    # GS1 AI 21 serial of the Digital Link: random like the token, so a guessed
    # /01/{gtin}/10/{lot}/21/{serial} path names nothing (SPEC §4).
    serial = models.CharField(max_length=20)
    token = models.CharField(max_length=32)
    status = models.CharField(max_length=20, choices=CodeStatus.choices, default=CodeStatus.IN_WAREHOUSE)
    issued_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "item_no"]
        # Unique constraints, not unique=True: on PostgreSQL a unique field gets a second,
        # varchar_pattern_ops index for LIKE, which no look-up of a token or serial uses and
        # every change of a code's status would have to update.
        constraints = [
            models.UniqueConstraint(fields=["token"], name="code_unique_token"),
            models.UniqueConstraint(fields=["serial"], name="code_unique_serial"),
            models.UniqueConstraint(fields=["batch", "item_no"], name="code_unique_item_no"),
        ]
        indexes = [models.Index(fields=["batch", "status"], name="code_batch_status")]
        verbose_name = _("Code")
        verbose_name_plural = _("Code")

    def __str__(self):
        return self.token


class AppendOnlyQuerySet(models.QuerySet):
    """R6: rows written once and never updated or deleted through any interface (events, and
    the photos kept as evidence). `refusal` says which."""

    refusal = "Events are immutable (R6)."

    def update(self, **kwargs):
        raise ValidationError(self.refusal)

    def delete(self):
        raise ValidationError(self.refusal)


class AppendOnly(models.Model):
    """The model side of AppendOnlyQuerySet: a saved row is never saved again nor deleted."""

    refusal = "Events are immutable (R6)."

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError(self.refusal)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(self.refusal)


class EventQuerySet(AppendOnlyQuerySet):
    pass


class Event(AppendOnly):
    # No index of its own: event_batch_id begins with the batch.
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="events", db_index=False)
    action = models.CharField(max_length=40)
    status_before = models.CharField(max_length=20, blank=True)
    status_after = models.CharField(max_length=20, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    role = models.CharField(max_length=20, choices=Role.choices)
    at = models.DateTimeField()
    warehouse = models.ForeignKey(
        "warehouse.Warehouse", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    zone = models.CharField(max_length=20, blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["batch", "id"], name="event_batch_id")]
        verbose_name = _("Event")
        verbose_name_plural = _("Event")


# What each kind of notice says (docs/contract.md "Notices"), with the notice's `params`: the
# words are chosen when the notice is read, in the reader's language. Who gets which is
# batches.notices. `serious` ones are also sent by SMS / e-mail; seals and recalls are banners.
NOTICE_TEXTS = {
    "submitted": (
        _("Batch %(number)s waits for your review"),
        _("%(merchant)s submitted a declaration of %(lines)s goods lines. Approve it or reject it with a reason."),
    ),
    "approved": (
        _("Batch %(number)s was approved"),
        _("Bring the goods to warehouse %(warehouse)s for the arrival check."),
    ),
    "approved_into_warehouse": (
        _("Batch %(number)s is coming to your warehouse"),
        _("Approved for %(market)s (%(merchant)s). Check it on arrival against its declaration."),
    ),
    "rejected": (
        _("Batch %(number)s was rejected"),
        _("Reason: %(reason)s. Revise the declaration and submit it again."),
    ),
    "discrepancy": (
        _("Batch %(number)s does not match its declaration"),
        _(
            "The arrival check found differences in %(mismatches)s goods lines. Nothing proceeds until a new "
            "check matches or the goods are returned."
        ),
    ),
    "quarantined": (
        _("Batch %(number)s is quarantined"),
        _(
            "A test result of sample %(sample_no)s was positive. The goods stay in the warehouse; the regulator "
            "decides whether they are disinfected again or destroyed."
        ),
    ),
    "rest_complete": (
        _("The rest of batch %(number)s is complete"),
        _("With a negative test result of this rest period it may move to storage; else take a sample now."),
    ),
    "sealed": (
        _("Batch %(number)s is sealed"),
        _(
            "An incident concerns this batch: nothing of it may be moved, released or sold until the regulator "
            "lifts the seal. Reason given: %(reason)s"
        ),
    ),
    "unsealed": (
        _("The seal on batch %(number)s was lifted"),
        _("The batch may move on and be sold again. Reason given: %(reason)s"),
    ),
    "recall": (
        _("Batch %(number)s was recalled"),
        _(
            "Reason for the recall: %(reason)s. %(codes_recalled)d unsold codes may no longer be sold; "
            "%(codes_sold)d were sold and the regulator will contact the buyers."
        ),
    ),
}
SERIOUS_NOTICES = frozenset({"recall", "sealed", "quarantined", "positive_result"})


class Notification(models.Model):
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="notifications", null=True, blank=True)
    # As written, in the default language (what the admin, SMS and e-mail show) ...
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # ... and what NOTICE_TEXTS needs to say it again in the reader's language.
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_recipient_read")]
        verbose_name = _("Notification")
        verbose_name_plural = _("Notification")

    @property
    def serious(self) -> bool:
        return self.kind in SERIOUS_NOTICES

    def shown(self) -> tuple[str, str]:
        """(title, body) in the active language; as written for kinds without a text of their own."""
        texts = NOTICE_TEXTS.get(self.kind)
        if texts is None or not self.params:
            return self.title, self.body
        try:
            return str(texts[0]) % self.params, (str(texts[1]) % self.params).strip()
        except (KeyError, TypeError, ValueError):
            return self.title, self.body

    @property
    def shown_title(self) -> str:
        return self.shown()[0]

    @property
    def shown_body(self) -> str:
        return self.shown()[1]


class BatchNumberCounter(models.Model):
    """Per market and day, the last number handed out (`MKT-A-20261129-0007`)."""

    market = models.ForeignKey("markets.Market", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["market", "day"], name="batch_counter_unique_day")]


class IdempotencyRecord(models.Model):
    """The first answer to a POST carrying an `Idempotency-Key` (R7)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_key")]


# --- evidence: photos of the warehouse's records (docs/contract.md §3, R6) -----------------


class AttachmentKind(models.TextChoices):
    ARRIVAL = "arrival", _("Arrival check")
    DISINFECTION = "disinfection", _("Disinfection")
    SAMPLE = "sample", _("Sampling")
    QUARANTINE = "quarantine", _("Quarantine")
    DESTRUCTION = "destruction", _("Destruction")


class AttachmentQuerySet(AppendOnlyQuerySet):
    """Evidence is kept like events: written once, never updated or deleted (R6)."""

    refusal = "Attachments are evidence and immutable (R6)."


class Attachment(AppendOnly):
    """A photo attached to a batch's record: the re-encoded image (no EXIF unless the location
    is kept on purpose) and its thumbnail, both in the `attachments` storage. Written by
    batches.attachments only; served only to those who see the batch."""

    refusal = AttachmentQuerySet.refusal

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="attachments")
    kind = models.CharField(_("Kind"), max_length=20, choices=AttachmentKind.choices)
    event = models.ForeignKey(
        Event, on_delete=models.PROTECT, related_name="attachments", null=True, blank=True, verbose_name=_("Event")
    )
    note = models.CharField(_("Note"), max_length=500, blank=True)
    file = models.CharField(max_length=300)  # the name in the attachments storage
    thumbnail = models.CharField(max_length=300)
    content_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=200, blank=True)
    location_kept = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20, choices=Role.choices)
    uploaded_at = models.DateTimeField()

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        ordering = ["uploaded_at", "id"]
        indexes = [models.Index(fields=["batch", "uploaded_at"], name="attachment_batch_at")]
        verbose_name = _("Photo")
        verbose_name_plural = _("Photos")


# --- papers: the declaration's documents (docs/web.md "Papers with the declaration") -------


class DocumentKind(models.TextChoices):
    CUSTOMS_DECLARATION = "customs_declaration", _("Customs declaration")
    INSPECTION_CERTIFICATE = "inspection_certificate", _("Inspection and quarantine certificate")
    OTHER = "other", _("Other document")


class BatchDocumentQuerySet(AppendOnlyQuerySet):
    """Papers are kept like evidence: never changed nor deleted; a wrong one is superseded."""

    refusal = "The declaration's papers are kept and immutable; upload a replacement instead."

    def current(self):
        """Those not superseded by a replacement."""
        return self.filter(superseded_by__isnull=True)


class BatchDocument(AppendOnly):
    """A paper attached to the declaration by its merchant: a photo (re-encoded JPEG with a
    thumbnail, as evidence photos) or a PDF, in the `attachments` storage. A replacement names
    the paper it `supersedes`; the superseded one is never changed, only no longer current."""

    refusal = BatchDocumentQuerySet.refusal

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(_("Kind"), max_length=30, choices=DocumentKind.choices)
    note = models.CharField(_("Note"), max_length=200, blank=True)
    file = models.CharField(max_length=300)  # the name in the attachments storage
    thumbnail = models.CharField(max_length=300, blank=True)  # photos only
    content_type = models.CharField(max_length=40)  # image/jpeg or application/pdf
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20, choices=Role.choices)
    uploaded_at = models.DateTimeField()
    # One replacement per paper, by constraint: two replacements of the same paper cannot both win.
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, related_name="superseded_by", null=True, blank=True
    )

    objects = BatchDocumentQuerySet.as_manager()

    class Meta:
        ordering = ["uploaded_at", "id"]
        indexes = [models.Index(fields=["batch", "uploaded_at"], name="document_batch_at")]
        verbose_name = _("Paper")
        verbose_name_plural = _("Papers")

    @property
    def is_pdf(self) -> bool:
        return self.content_type == "application/pdf"


# --- incidents: a positive result, the lots around it, seals (README "Incident mode") ------


class IncidentState(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class Incident(models.Model):
    """Opened by a positive result of the batch's current rest period (one per batch and cycle)."""

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="incidents")
    cycle = models.PositiveIntegerField()
    sample_no = models.CharField(max_length=64)
    report_no = models.CharField(max_length=64, blank=True)
    opened_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=IncidentState.choices, default=IncidentState.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["batch", "cycle"], name="incident_one_per_batch_cycle")]
        verbose_name = _("Incident")
        verbose_name_plural = _("Incidents")

    def __str__(self):
        return f"#{self.pk} {self.batch.number}"


class Seal(models.Model):
    """A seal on a batch: while it is not lifted, the batch is not moved to storage, coded,
    released or sold (batches.seals). At most one seal in force per batch."""

    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="seals")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="seals", null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    sealed_at = models.DateTimeField()
    sealed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    lift_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["sealed_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch"], condition=models.Q(lifted_at__isnull=True), name="seal_one_in_force_per_batch"
            )
        ]
        verbose_name = _("Seal")
        verbose_name_plural = _("Seals")


class IncidentContact(models.Model):
    """Who was told about an incident, how and when: a merchant (a notification in the system)
    or a buyer (an SMS through the outbox). Once per merchant, once per buyer phone."""

    class Kind(models.TextChoices):
        MERCHANT = "merchant", _("Merchant")
        BUYER = "buyer", _("Buyer")

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="contacts")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="+")
    merchant = models.ForeignKey("markets.Merchant", on_delete=models.PROTECT, related_name="+")
    sale = models.ForeignKey("markets.Sale", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    contacted_at = models.DateTimeField()
    contacted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["contacted_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "merchant"], condition=models.Q(kind="merchant"), name="contact_merchant_once"
            ),
            models.UniqueConstraint(
                fields=["incident", "phone"], condition=models.Q(kind="buyer"), name="contact_buyer_once"
            ),
        ]
