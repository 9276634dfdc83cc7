from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Signing in: the lockout after repeated wrong passwords and the API's expiring tokens (SPEC §4)."""

    name = "accounts"
    verbose_name = "Sign-in"

    def ready(self):
        from . import schema  # noqa: F401  (registers the token scheme with drf-spectacular)
