"""API tokens (SPEC §4): issued by `POST /api/auth/token/`, sent as `Authorization: Token <token>`,
valid TOKEN_TTL_HOURS from issue, revoked by `POST /api/auth/logout/`, refused at once for a
deactivated user.

django-rest-knox stores only a SHA-512 digest of each token, so a copy of the database does not
hold usable tokens, and gives every token its own expiry."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework import exceptions

from config.compiled import CompiledQuery

# The user's role and organisation come in the same query as the token, so that
# batches.actors.actor_for needs none of its own on an API request (docs/performance.md, "The hot paths under load").
ACTOR_RELATIONS = ("user__merchant__market", "user__reviewer__market", "user__operator__warehouse", "user__regulator")
# Every API request runs this look-up: its SQL (five joins) is built once per process
# (config/compiled.py). The placeholder is no real key: knox's keys are hexadecimal.
_TOKENS_BY_KEY = CompiledQuery(
    AuthToken,
    lambda key: AuthToken.objects.filter(token_key=key).select_related(*ACTOR_RELATIONS),
    key="\x00key",
)


class ExpiringTokenAuthentication(TokenAuthentication):
    """knox's token check (digest, expiry, active user), with the token dead from the moment of
    its `expires_at` on: knox itself accepts it for that one instant still.

    One query per request, read from the database every time (a revoked token or a deactivated
    user is refused at once): the token row with its user and the user's role. knox would also
    read all the user's other tokens on every request to delete the expired ones; that is left to
    the hourly purge (tokens_purge_expired), which deletes them whoever they belong to."""

    def authenticate_credentials(self, token):
        token = token.decode("utf-8")
        try:
            digest = hash_token(token)
        except (TypeError, ValueError):
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        for auth_token in _TOKENS_BY_KEY(key=token[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if constant_time_compare(digest, auth_token.digest):
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(_("Invalid token."))

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
