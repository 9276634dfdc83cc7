"""The OpenAPI description of our token header (drf-spectacular reads it for every API view)."""

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme


class ExpiringTokenScheme(KnoxTokenScheme):
    target_class = "markets.accounts.tokens.ExpiringTokenAuthentication"
    name = "tokenAuth"
