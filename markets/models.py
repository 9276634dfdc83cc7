"""The organisations around a warehouse: the district, its markets and their people (SPEC §2),
and what merchants sell to whom (R4) with the regulator's record of every trace query."""

import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

MOBILE_RE = r"^(\+86)?1[0-9]{10}$"  # ASCII digits only (\d would take any script's digits)
mobile_validator = RegexValidator(MOBILE_RE, _("Enter an 11-digit mainland China mobile number (optionally with +86)."))


# --- people and organisations by name ------------------------------------------------------


def person_name(user) -> str:
    """A person as people know them, wherever one is shown (pages, PDFs, exports, timelines):
    the name (a Chinese name is kept whole in `first_name`), the login id only if none is set."""
    if user is None:
        return ""
    return f"{user.first_name} {user.last_name}".strip() or user.get_username()


# '杭州市上城区' → '杭州市': a district's name that begins with its city.
_CITY_PREFIX_RE = re.compile(r"^(\S+?市)\S")


def city_of(district_names) -> str:
    """The city the districts lie in, as their names say it ('杭州市上城区', '杭州市拱墅区' →
    '杭州市'); '' when the names do not begin with one and the same city."""
    cities = {match.group(1) if (match := _CITY_PREFIX_RE.match(name or "")) else "" for name in district_names}
    return cities.pop() if len(cities) == 1 else ""


def bureau_name(*, district: str = "", city: str = "") -> str:
    """The market-supervision bureau of a district (its name as the data holds it:
    杭州市上城区市场监督管理局), or of the city (杭州市市场监督管理局; 市市场监督管理局 when the
    districts do not name their city)."""
    if district:
        return gettext("%(district)s Administration for Market Regulation") % {"district": district}
    if city:
        return gettext("%(city)s Administration for Market Regulation") % {"city": city}
    return gettext("City Administration for Market Regulation")


class District(models.Model):
    code = models.CharField(pgettext_lazy("identifier", "Code"), max_length=32, unique=True)
    name = models.CharField(_("Name"), max_length=200)

    class Meta:
        verbose_name = _("District")
        verbose_name_plural = _("District")

    def __str__(self):
        return self.name


class Market(models.Model):
    code = models.CharField(pgettext_lazy("identifier", "Code"), max_length=32, unique=True)
    name = models.CharField(_("Name"), max_length=200)
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="markets")
    address = models.CharField(_("Address"), max_length=200, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("Market")
        verbose_name_plural = _("Market")

    def __str__(self):
        return f"{self.code} {self.name}"


# A merchant id as a query parameter: ASCII digits that fit the database's bigint.
MERCHANT_ID_RE = re.compile(r"[0-9]{1,18}")


class Merchant(models.Model):
    """A stall holder (经营户) of one market. `id` is what the regulator's trace accepts."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="merchant")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="merchants")
    name = models.CharField(_("Merchant name"), max_length=200)
    stall = models.CharField(_("Stall"), max_length=64)
    licence_no = models.CharField(_("Business licence no."), max_length=64)
    phone = models.CharField(_("Mobile phone"), max_length=20, validators=[mobile_validator])

    class Meta:
        ordering = ["market", "stall"]
        verbose_name = _("Merchant")
        verbose_name_plural = _("Merchant")

    def __str__(self):
        return f"{self.name} ({self.stall})"


class Reviewer(models.Model):
    """Market staff (市场方) who approve or reject declarations of their market."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviewer")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="reviewers")

    class Meta:
        verbose_name = _("Market reviewer")
        verbose_name_plural = _("Market reviewer")

    def __str__(self):
        return f"{self.user.get_username()} @ {self.market.code}"


class Regulator(models.Model):
    """District market-supervision bureau staff (区市场监管局), or city bureau staff (市市场监管局)
    who see every district. City level is an explicit flag, never a missing district: a row
    imported without its district must not silently see the whole city (docs/contract.md §2)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="regulator")
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="regulators", null=True, blank=True)
    city_level = models.BooleanField(_("City level"), default=False, help_text=_("Sees every district of the city"))

    class Meta:
        constraints = [
            # Exactly one of: a district, or the whole city.
            models.CheckConstraint(
                condition=models.Q(city_level=True, district__isnull=True)
                | models.Q(city_level=False, district__isnull=False),
                name="regulator_district_or_city",
            ),
        ]
        verbose_name = _("Regulator")
        verbose_name_plural = _("Regulator")

    def __str__(self):
        return f"{self.user.get_username()} @ {self.district.code if self.district_id else 'CITY'}"


# --- sales and the regulator's trace (SPEC R4, §4) -------------------------------------------

# Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters of this alphabet,
# the 3rd to 8th the administrative division, the last a mod-31 check character.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
CREDIT_CODE_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def credit_code_check_character(first17: str) -> str:
    total = sum(
        CREDIT_CODE_ALPHABET.index(ch) * weight for ch, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def validate_credit_code(value: str) -> None:
    if not CREDIT_CODE_RE.match(value or "") or credit_code_check_character(value[:17]) != value[17]:
        raise ValidationError(
            _(
                "A unified social credit code has 18 characters (digits and capital letters without "
                "I, O, Z, S, V) and a valid check character."
            )
        )


def normalize_mobile(value: str) -> str:
    """`+86 138 0000 0001` → `13800000001`: phones are stored and searched as 11 digits.
    Full-width input (`１３８…`, typed with a Chinese IME) becomes ASCII first (NFKC)."""
    value = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", value or ""))
    return value[3:] if value.startswith("+86") else value


def mask_mobile(value: str) -> str:
    """`13800000001` → `138****0001`: what anyone but a regulator sees of a buyer's phone."""
    return f"{value[:3]}****{value[-4:]}" if len(value) >= 8 else "****"


class BuyerKind(models.TextChoices):
    CONSUMER = "consumer", _("Consumer")
    BUSINESS = "business", _("Business")


# What a buyer's name becomes once the retention period is over (markets.retention).
ANONYMISED_BUYER_NAME = "已匿名"


class Sale(models.Model):
    """One sale of one or more codes by the merchant they were released to (R4).

    A voided sale stays on record (voided_at, void_reason); its items are marked voided so the
    codes can be sold again. After BUYER_DATA_RETENTION_DAYS the buyer's name and phone are
    anonymised (buyer_anonymised_at); the sale, its codes and dates stay."""

    # No index of its own: sale_merchant_sold_at begins with the merchant.
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="sales", db_index=False)
    sold_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    buyer_name = models.CharField(_("Buyer name"), max_length=200)
    buyer_phone = models.CharField(_("Buyer mobile phone"), max_length=11, validators=[mobile_validator])
    buyer_kind = models.CharField(_("Buyer kind"), max_length=10, choices=BuyerKind.choices)
    buyer_credit_code = models.CharField(
        _("Unified social credit code"), max_length=18, blank=True, validators=[validate_credit_code]
    )
    sold_at = models.DateTimeField(_("Sold at"))
    voided_at = models.DateTimeField(_("Voided at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    void_reason = models.CharField(_("Reason for voiding"), max_length=500, blank=True)
    buyer_anonymised_at = models.DateTimeField(_("Buyer anonymised at"), null=True, blank=True)

    class Meta:
        ordering = ["-sold_at", "-id"]
        indexes = [
            models.Index(fields=["merchant", "sold_at"], name="sale_merchant_sold_at"),
            models.Index(fields=["buyer_phone"], name="sale_buyer_phone"),
            # The daily anonymisation reads only sales not yet anonymised, oldest first.
            models.Index(
                fields=["sold_at"], condition=models.Q(buyer_anonymised_at__isnull=True), name="sale_buyer_to_anonymise"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(buyer_kind="business") | models.Q(buyer_credit_code=""),
                name="sale_credit_code_business_only",
            ),
        ]
        verbose_name = _("Sale")
        verbose_name_plural = _("Sale")

    def __str__(self):
        return f"#{self.pk} {self.merchant.name} {self.sold_at:%Y-%m-%d}"

    @property
    def is_voided(self) -> bool:
        return self.voided_at is not None


class BuyerAnonymisationRun(models.Model):
    """One run of `anonymise_buyers` (daily by Celery beat, or by hand): when, with which
    cut-off, and how many sales it anonymised. Written by markets.retention only."""

    started_at = models.DateTimeField(_("Started at"))
    finished_at = models.DateTimeField(_("Finished at"))
    retention_days = models.PositiveIntegerField(_("Retention (days)"))
    cutoff = models.DateTimeField(_("Cut-off"), help_text=_("Buyers of sales before this time are anonymised"))
    sales_anonymised = models.PositiveIntegerField(_("Sales anonymised"))

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("Buyer anonymisation run")
        verbose_name_plural = _("Buyer anonymisation run")

    def __str__(self):
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.sales_anonymised}"


class SaleItem(models.Model):
    """One code of a sale. At most one active (not voided) item per code: the database itself
    refuses a second sale of a code, however two requests race (R4, R7)."""

    sale = models.ForeignKey(Sale, on_delete=models.PROTECT, related_name="items")
    code = models.ForeignKey("batches.Code", on_delete=models.PROTECT, related_name="sale_items")
    voided = models.BooleanField(default=False)

    class Meta:
        ordering = ["sale", "id"]
        constraints = [
            models.UniqueConstraint(fields=["code"], condition=models.Q(voided=False), name="sale_item_code_sold_once"),
        ]
        verbose_name = _("Sale item")
        verbose_name_plural = _("Sale item")


class TraceQueryKind(models.TextChoices):
    CODE = "code", _("Code trace")
    BATCH = "batch", _("Batch trace")
    MERCHANT_SALES = "merchant_sales", _("Merchant sales")
    EXPORT = "export", _("Sales export")
    EPCIS = "epcis", _("EPCIS export")
    SEARCH = "search", _("Trace search")
    RECALL = "recall", _("Recall (buyers)")


class TraceQueryQuerySet(models.QuerySet):
    """An audit trail: written once, never updated or deleted through any interface."""

    def update(self, **kwargs):
        raise ValidationError("Trace queries are an audit trail and immutable.")

    def delete(self):
        raise ValidationError("Trace queries are an audit trail and immutable.")


class TraceQuery(models.Model):
    """Who looked up what, when (docs/contract.md §5). `parameters` never holds a buyer's phone: a phone
    searched for is kept masked, with a keyed digest an auditor can match a number against."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20)
    kind = models.CharField(max_length=20, choices=TraceQueryKind.choices)
    subject = models.CharField(max_length=200, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    found = models.BooleanField(default=True)
    result_count = models.PositiveIntegerField(null=True, blank=True)
    at = models.DateTimeField()

    objects = TraceQueryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "at"], name="tracequery_user_at")]
        verbose_name = _("Trace query")
        verbose_name_plural = _("Trace query")

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("Trace queries are an audit trail and immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Trace queries are an audit trail and immutable.")
