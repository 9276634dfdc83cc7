from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BatchesConfig(AppConfig):
    name = "batches"
    verbose_name = _("Batch")

    def ready(self):
        # The batch actions are declared on their services (batches/actions.py): importing
        # them fills the registry before any request, task or command reads it.
        from . import services  # noqa: F401
