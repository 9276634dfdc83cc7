"""API tokens (SPEC §4): `POST /api/auth/token/` with `{"username", "password"}` answers
`{"token", "expires_at"}`; the header `Authorization: Token <token>` works until TOKEN_TTL_HOURS
(default 12) have passed; `POST /api/auth/logout/` revokes the caller's token; a deactivated
user's tokens and web sessions stop working at once.

Given the demo organisations (password PASSWORD); the clock stands still unless a test moves it."""

from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

TTL = 12 * 3600


def token_for(username, password=PASSWORD):
    response = APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def with_token(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_the_answer_is_a_token_and_when_it_expires(world, clock):
    answer = token_for("operator-1")

    assert set(answer) == {"token", "expires_at"}
    expires_at = datetime.fromisoformat(answer["expires_at"])
    assert expires_at == timezone.now() + timedelta(hours=12)
    assert expires_at.utcoffset() == timedelta(hours=8)  # ISO 8601, shown in Asia/Shanghai (R8)
    # the token works, and only its digest is stored
    assert with_token(answer["token"]).get("/api/warehouses/").status_code == 200
    assert not AuthToken.objects.filter(digest=answer["token"]).exists()
    assert AuthToken.objects.filter(user__username="operator-1").count() == 1


def test_a_token_stops_working_when_its_time_is_up(world, clock):
    client = with_token(token_for("operator-1")["token"])

    clock.shift(TTL - 1)
    assert client.get("/api/warehouses/").status_code == 200

    clock.shift(1)
    expired = client.get("/api/warehouses/")
    assert expired.status_code == 401
    assert expired["WWW-Authenticate"] == "Token"
    assert not AuthToken.objects.filter(user__username="operator-1").exists()


def test_the_lifetime_is_configured_in_hours(world, clock, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(hours=1)}
    answer = token_for("operator-1")

    assert datetime.fromisoformat(answer["expires_at"]) == timezone.now() + timedelta(hours=1)
    clock.shift(3600)
    assert with_token(answer["token"]).get("/api/warehouses/").status_code == 401


def test_logout_revokes_the_callers_token_only(world):
    scanner = with_token(token_for("operator-1")["token"])
    desk = with_token(token_for("operator-1")["token"])

    response = scanner.post("/api/auth/logout/")

    assert response.status_code == 204
    assert scanner.get("/api/warehouses/").status_code == 401
    assert scanner.post("/api/auth/logout/").status_code == 401
    assert desk.get("/api/warehouses/").status_code == 200


def test_logout_without_a_token_is_401(world):
    assert APIClient().post("/api/auth/logout/").status_code == 401
    browser = APIClient()
    browser.force_login(get_user_model().objects.get(username="operator-1"))
    assert browser.post("/api/auth/logout/").status_code == 401


def test_a_deactivated_user_is_shut_out_of_tokens_and_web_sessions_at_once(world):
    # Given a merchant with a token (scanner) and a signed-in browser
    scanner = with_token(token_for("merchant-a1")["token"])
    browser = Client()
    assert browser.post("/accounts/login/", {"username": "merchant-a1", "password": PASSWORD}).status_code == 302
    assert browser.get("/").status_code == 200
    assert browser.get("/api/batches/").status_code == 200
    # When an administrator deactivates the account
    user = get_user_model().objects.get(username="merchant-a1")
    user.is_active = False
    user.save(update_fields=["is_active"])
    # Then the next request with the token is 401, and the browser is signed out
    assert scanner.get("/api/batches/").status_code == 401
    assert browser.get("/")["Location"].startswith("/accounts/login/")
    assert browser.get("/api/batches/").status_code == 401
    # and neither a new token nor a new session is handed out
    refused = APIClient().post("/api/auth/token/", {"username": "merchant-a1", "password": PASSWORD}, format="json")
    assert refused.status_code == 400 and "token" not in refused.json()
    assert browser.post("/accounts/login/", {"username": "merchant-a1", "password": PASSWORD}).status_code == 200


def test_signing_out_of_the_web_leaves_the_scanner_token_alone(world):
    # Scanners hold their own tokens: the person signing out of a browser does not stop them.
    scanner = with_token(token_for("operator-1")["token"])
    browser = Client()
    browser.post("/accounts/login/", {"username": "operator-1", "password": PASSWORD})

    assert browser.post("/accounts/logout/").status_code == 302

    assert scanner.get("/api/warehouses/").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "operator-1"},
        {"password": PASSWORD},
        {"username": "x" * 151, "password": PASSWORD},
        {"username": ["operator-1"], "password": PASSWORD},
    ],
)
def test_a_malformed_sign_in_is_400_with_field_errors(world, body):
    response = APIClient().post("/api/auth/token/", body, format="json")

    assert response.status_code == 400
    assert set(response.json()) <= {"username", "password", "non_field_errors"}
    assert not AuthToken.objects.exists()


def test_the_schema_documents_both_views(world):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()

    token = schema["paths"]["/api/auth/token/"]["post"]
    assert set(token["responses"]) == {"200", "400", "429"}
    assert "Retry-After" in token["responses"]["429"]["headers"]
    assert token["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/CredentialsInputRequest")
    assert set(schema["components"]["schemas"]["TokenOutput"]["properties"]) == {"token", "expires_at"}
    logout = schema["paths"]["/api/auth/logout/"]["post"]
    # 400: the body, though unused, must not be malformed (like every action's)
    assert set(logout["responses"]) == {"204", "400", "401"}
    assert logout["security"] == [{"tokenAuth": []}]
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert '"Token"' in scheme["description"]


def test_reactivating_a_user_does_not_bring_old_tokens_back(world):
    scanner = with_token(token_for("merchant-a1")["token"])
    user = get_user_model().objects.get(username="merchant-a1")

    user.is_active = False
    user.save()
    user.is_active = True
    user.save()

    assert scanner.get("/api/batches/").status_code == 401
    assert with_token(token_for("merchant-a1")["token"]).get("/api/batches/").status_code == 200


def test_a_new_password_revokes_every_token_of_the_user(world):
    scanner = with_token(token_for("merchant-a1")["token"])
    other = with_token(token_for("merchant-a2")["token"])
    user = get_user_model().objects.get(username="merchant-a1")

    user.set_password("a-new-pass-456")
    user.save()

    assert scanner.get("/api/batches/").status_code == 401
    assert other.get("/api/batches/").status_code == 200
    # signing in again, which also records last_login, leaves the new token alone
    fresh = with_token(token_for("merchant-a1", "a-new-pass-456")["token"])
    assert fresh.get("/api/batches/").status_code == 200


def test_the_hourly_purge_deletes_expired_token_rows_only(world, clock):
    from markets.accounts.tasks import purge_expired_tokens

    token_for("operator-1")
    clock.shift(TTL)
    live = token_for("operator-2")

    assert purge_expired_tokens.delay().get() == 1

    assert list(AuthToken.objects.values_list("user__username", flat=True)) == ["operator-2"]
    assert with_token(live["token"]).get("/api/warehouses/").status_code == 200
