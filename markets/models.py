"""The organisations around a warehouse: the district, its markets and their people (SPEC §2)."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

MOBILE_RE = r"^(\+86)?1\d{10}$"
mobile_validator = RegexValidator(MOBILE_RE, _("请输入 11 位中国大陆手机号码（可带 +86）。"))


class District(models.Model):
    code = models.CharField(_("编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=200)

    class Meta:
        verbose_name = _("辖区")
        verbose_name_plural = _("辖区")

    def __str__(self):
        return self.name


class Market(models.Model):
    code = models.CharField(_("编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=200)
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="markets")
    address = models.CharField(_("地址"), max_length=200, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("市场")
        verbose_name_plural = _("市场")

    def __str__(self):
        return f"{self.code} {self.name}"


class Merchant(models.Model):
    """A stall holder (经营户) of one market. `id` is what the regulator's trace accepts."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="merchant")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="merchants")
    name = models.CharField(_("经营户名称"), max_length=200)
    stall = models.CharField(_("摊位号"), max_length=64)
    licence_no = models.CharField(_("营业执照号"), max_length=64)
    phone = models.CharField(_("手机号"), max_length=20, validators=[mobile_validator])

    class Meta:
        ordering = ["market", "stall"]
        verbose_name = _("经营户")
        verbose_name_plural = _("经营户")

    def __str__(self):
        return f"{self.name} ({self.stall})"


class Reviewer(models.Model):
    """Market staff (市场方) who approve or reject declarations of their market."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviewer")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="reviewers")

    class Meta:
        verbose_name = _("市场审核员")
        verbose_name_plural = _("市场审核员")

    def __str__(self):
        return f"{self.user.get_username()} @ {self.market.code}"


class Regulator(models.Model):
    """District market-supervision bureau staff (区市场监管局)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="regulator")
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="regulators")

    class Meta:
        verbose_name = _("监管人员")
        verbose_name_plural = _("监管人员")

    def __str__(self):
        return f"{self.user.get_username()} @ {self.district.code}"
