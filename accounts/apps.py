from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Signing in: the lockout after repeated wrong passwords and the API's expiring tokens (SPEC §4)."""

    name = "accounts"
    verbose_name = "Sign-in"

    def ready(self):
        from . import schema, signals  # noqa: F401  (register the token scheme and the revocation)
