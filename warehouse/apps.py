from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WarehouseConfig(AppConfig):
    name = "warehouse"
    verbose_name = _("Warehouse")

    def ready(self):
        # The label-sheet task is queued by name (warehouse.label_sheets); registering it here
        # lets the web process hand it to the broker right after the commit.
        from . import tasks  # noqa: F401
