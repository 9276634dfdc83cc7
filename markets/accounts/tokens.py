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


def tokens_revoke_all(*, user_id: int) -> int:
    """Every token of the user stops working at once; returns how many there were."""
    count, _ = AuthToken.objects.filter(user_id=user_id).delete()
    return count


def tokens_purge_expired(*, limit: int = 10_000) -> int:
    """Deletes up to `limit` expired tokens. They are refused anyway; knox deletes a user's
    expired tokens only when that user comes back, so the rows of people who never do would
    pile up without this."""
    digests = list(AuthToken.objects.filter(expiry__lte=timezone.now()).values_list("digest", flat=True)[:limit])
    count, _ = AuthToken.objects.filter(digest__in=digests).delete()
    return count
