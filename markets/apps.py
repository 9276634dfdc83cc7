from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketsConfig(AppConfig):
    name = "markets"
    verbose_name = _("Markets and supervision")

    def ready(self):
        # Signing in (markets/accounts/): the knox token scheme for the OpenAPI schema, token
        # revocation on deactivation or a password change, and the hourly purge task.
        from .accounts import schema, signals, tasks  # noqa: F401
