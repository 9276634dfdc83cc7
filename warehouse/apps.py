from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WarehouseConfig(AppConfig):
    name = "warehouse"
    verbose_name = _("Warehouse")

    def ready(self):
        # The label-sheet task is queued by name (warehouse.label_sheets); registering it here
        # lets the web process hand it to the broker right after the commit. The public page's
        # cache follows every event of a batch, in whichever process writes it.
        from . import public, tasks  # noqa: F401
