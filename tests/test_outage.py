"""Failure of our own side, in process: a database that cannot be reached answers 503 with
Retry-After on the API (JSON, code `service_unavailable`), on the pages (a page in the chosen
language) and on signing in, never 500; the next request after it is back is served as usual.
(tests/test_outage_servers.py does the same against real servers it stops.)"""

from contextlib import contextmanager

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

from batches.models import Batch


@contextmanager
def database_down():
    """Every statement and every new connection fails as a stopped server makes them fail."""
    patch = pytest.MonkeyPatch()

    def refuse(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    patch.setattr("django.db.backends.utils.CursorWrapper.execute", refuse)
    patch.setattr("django.db.backends.utils.CursorWrapper.executemany", refuse)
    patch.setattr(BaseDatabaseWrapper, "ensure_connection", refuse)
    try:
        yield
    finally:
        patch.undo()


def test_the_api_answers_503_with_retry_after_in_json(api):
    merchant = api("merchant-a1")

    with database_down():
        response = merchant.get("/api/batches/")

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json() == {"detail": response.json()["detail"], "code": "service_unavailable"}
    assert "数据库" in response.json()["detail"]  # Chinese unless English was chosen
    # and once the database is back, the same request is served
    assert merchant.get("/api/batches/").status_code == 200


def test_an_api_change_answers_503_and_changes_nothing(api):
    merchant = api("merchant-a1")
    before = Batch.objects.count()

    with database_down():
        response = merchant.post("/api/batches/", {"lines": []}, format="json")

    assert response.status_code == 503 and response.json()["code"] == "service_unavailable"
    assert Batch.objects.count() == before


def test_pages_answer_503_with_a_page_in_the_chosen_language(web, client, db):
    page_client = web("merchant-a1")

    with database_down():
        chinese = page_client.get("/batches/")
        english = page_client.get("/batches/?lang=en")

    assert chinese.status_code == 503 and chinese["Retry-After"]
    assert chinese["Content-Type"].startswith("text/html")
    assert 'data-testid="error-503"' in chinese.content.decode() and "数据库" in chinese.content.decode()
    assert english.status_code == 503 and "cannot reach its database" in english.content.decode()
    assert page_client.get("/batches/").status_code == 200


def test_signing_in_answers_503_not_500(client, db):
    with database_down():
        page = client.post("/accounts/login/", {"username": "merchant-a1", "password": "x"})
        token = client.post(
            "/api/auth/token/", {"username": "merchant-a1", "password": "x"}, content_type="application/json"
        )

    assert page.status_code == 503 and page["Retry-After"]
    assert token.status_code == 503 and token.json()["code"] == "service_unavailable"


def test_a_server_error_that_is_not_the_database_stays_500(api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("batches.api.views.BatchListCreateView.list", broken)
    client = api("merchant-a1")
    client.raise_request_exception = False

    response = client.get("/api/batches/")

    assert response.status_code == 500 and "Retry-After" not in response
