from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WarehouseConfig(AppConfig):
    name = "warehouse"
    verbose_name = _("监管仓")

    def ready(self):
        # The public page's cache follows every event of a batch, in whichever process writes it.
        from . import public  # noqa: F401
