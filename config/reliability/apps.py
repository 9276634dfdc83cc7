from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReliabilityConfig(AppConfig):
    name = "config.reliability"
    label = "reliability"  # tables, migrations and task names keep the short name
    verbose_name = _("Reliability")
