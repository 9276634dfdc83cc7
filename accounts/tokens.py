"""API tokens (SPEC §4): issued by `POST /api/auth/token/`, sent as `Authorization: Token <token>`,
valid TOKEN_TTL_HOURS from issue, revoked by `POST /api/auth/logout/`, refused at once for a
deactivated user.

django-rest-knox stores only a SHA-512 digest of each token, so a copy of the database does not
hold usable tokens, and gives every token its own expiry."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework import exceptions


class ExpiringTokenAuthentication(TokenAuthentication):
    """knox's token check (digest, expiry, active user), with the token dead from the moment of
    its `expires_at` on: knox itself accepts it for that one instant still."""

    def validate_user(self, auth_token):
        if auth_token.expiry is not None and auth_token.expiry <= timezone.now():
            auth_token.delete()
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return super().validate_user(auth_token)


def token_issue(*, user: AbstractBaseUser) -> tuple[AuthToken, str]:
    """A new token for the user, valid TOKEN_TTL_HOURS from now; returns the stored row (with
    `expiry`) and the token itself, which is shown this once and never stored."""
    return AuthToken.objects.create(user=user)


def token_revoke(*, token: AuthToken) -> None:
    """The token stops working at once (the next request with it answers 401)."""
    token.delete()
