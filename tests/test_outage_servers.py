"""Failure of our own side, with real servers the test owns: gunicorn (the shipped command's
sync workers) on a database of its own reached through a TCP proxy the test cuts, and a Redis
of its own (broker and cache) that the test stops.

- PostgreSQL cut: the API answers 503 with Retry-After and `code: service_unavailable`, pages
  and signing in answer 503 with a page in the chosen language, /healthz answers 503 naming
  the database; once the connection is back, the same server answers 200 without a restart.
- Redis stopped: an action that hands work over (the rest timer of move-to-resting) still
  succeeds, its task waiting in the outbox; the public page still answers; /healthz names the
  broker. Once Redis is back, the relay hands the task over.
"""

import os
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
import requests

from tests.conftest import Flow

from .processes import (
    PYTHON,
    CuttableProxy,
    HttpApi,
    OwnTempDir,
    Processes,
    answers,
    assert_ports_free,
    gunicorn_argv,
    redis_server_argv,
    run,
    scratch_database,
    wait_until,
)

pytestmark = pytest.mark.outage

WEB_PORT, PROXY_PORT, REDIS_PORT = 18220, 18221, 18222
PASSWORD = "outage-pass-123"
REST_SECONDS = 3


@dataclass
class Servers:
    processes: Processes
    proxy: CuttableProxy
    env: dict
    database_url: str  # straight to PostgreSQL, for the test's own look

    def outbox_states(self, task: str) -> Counter:
        """How many of the task's outbox rows are in each state."""
        with psycopg.connect(self.database_url) as conn:
            rows = conn.execute(
                "SELECT state FROM reliability_outboxmessage WHERE task_name LIKE %s", (f"%{task}",)
            ).fetchall()
        return Counter(state for (state,) in rows)


@pytest.fixture
def servers():
    own = OwnTempDir("h_ops_outage_")
    assert_ports_free(WEB_PORT, PROXY_PORT, REDIS_PORT)
    try:
        with scratch_database("h_ops_outage") as database_url:
            parts = urlsplit(database_url)
            proxy = CuttableProxy(PROXY_PORT, (parts.hostname or "127.0.0.1", parts.port or 5432))
            through_proxy = parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{PROXY_PORT}").geturl()
            var = own.path / "var"
            var.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "PYTEST_"))}
            env.update(
                DATABASE_URL=through_proxy,
                REDIS_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
                SECRET_KEY=secrets.token_hex(32),
                DEBUG="0",
                ALLOWED_HOSTS="127.0.0.1,localhost",
                PUBLIC_BASE_URL=f"http://127.0.0.1:{WEB_PORT}",
                VAR_DIR=str(var),
                PYTHONUNBUFFERED="1",
                DJANGO_SETTINGS_MODULE="config.settings",
                OUTBOX_BROKER_TIMEOUT="1",
                REST_PERIOD_SECONDS=str(REST_SECONDS),
                LOG_LEVEL="WARNING",
            )
            processes = Processes(own.path, env)
            try:
                processes.start("redis", redis_server_argv(REDIS_PORT, own.path))
                wait_until(redis_answers, timeout=20, what="Redis of the test's own", diagnostics=processes.logs)
                run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env)
                run([PYTHON, "manage.py", "seed_demo", "--password", PASSWORD], env=env)
                processes.start("web", gunicorn_argv(WEB_PORT))
                wait_until(
                    lambda: answers(url("/healthz")), timeout=60, what="gunicorn answering", diagnostics=processes.logs
                )
                yield Servers(processes, proxy, env, database_url)
            finally:
                processes.stop_all()
                proxy.close()
    finally:
        own.remove()


def url(path: str) -> str:
    return f"http://127.0.0.1:{WEB_PORT}{path}"


def redis_answers() -> bool:
    try:
        return bool(redis.Redis(port=REDIS_PORT, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def signed_in_browser(username: str, language: str | None = None) -> requests.Session:
    """A browser's session on the pages, signed in through the sign-in form."""
    browser = requests.Session()
    if language:
        browser.cookies.set("django_language", language)
    browser.get(url("/accounts/login/"), timeout=10)
    answer = browser.post(
        url("/accounts/login/"),
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": url("/accounts/login/")},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:300]
    return browser


def test_a_database_that_goes_away_answers_503_and_the_server_recovers_by_itself(servers):
    api = HttpApi(url(""), PASSWORD)
    flow = Flow(api)
    flow.declare()
    merchant = api(flow.merchant)
    chinese, english = signed_in_browser("merchant-a1"), signed_in_browser("merchant-a1", "en")
    signing_in = requests.Session()
    signing_in.get(url("/accounts/login/"), timeout=10)  # the form and its CSRF cookie

    servers.proxy.cut()

    # the API: 503, Retry-After, the JSON body of the contract; reading and changing alike
    for answer in (merchant.get("/api/batches/"), merchant.post(f"/api/batches/{flow.number}/submit/", {})):
        assert answer.status_code == 503, answer.text[:300]
        assert int(answer.headers["Retry-After"]) > 0
        assert answer.json()["code"] == "service_unavailable" and answer.json()["detail"]
    token = requests.post(url("/api/auth/token/"), json={"username": "merchant-a1", "password": PASSWORD}, timeout=10)
    assert token.status_code == 503 and token.headers["Retry-After"]
    # the pages: 503 with a page in the person's language
    page = chinese.get(url(f"/batches/{flow.number}/"), timeout=10)
    assert page.status_code == 503 and page.headers["Retry-After"]
    assert "text/html" in page.headers["Content-Type"] and "数据库" in page.text
    page = english.get(url("/batches/"), timeout=10)
    assert page.status_code == 503 and "cannot reach its database" in page.text
    # signing in on the page
    sign_in = signing_in.post(
        url("/accounts/login/"),
        data={"username": "merchant-a1", "password": PASSWORD, "csrfmiddlewaretoken": signing_in.cookies["csrftoken"]},
        headers={"Referer": url("/accounts/login/")},
        allow_redirects=False,
        timeout=10,
    )
    assert sign_in.status_code == 503 and sign_in.headers["Retry-After"] and "数据库" in sign_in.text
    # /healthz names the part that is down
    health = requests.get(url("/healthz"), timeout=10)
    assert health.status_code == 503 and health.json()["database"].startswith("error")

    servers.proxy.restore()

    # the same processes serve again, nothing restarted
    wait_until(lambda: merchant.get("/api/batches/").status_code == 200, timeout=30, what="the API serving again")
    assert merchant.post(f"/api/batches/{flow.number}/submit/", {}).status_code == 200
    assert chinese.get(url(f"/batches/{flow.number}/"), timeout=10).status_code == 200
    assert requests.get(url("/healthz"), timeout=10).json()["database"] == "ok"
    assert servers.processes.alive("web")


def test_with_the_broker_and_cache_away_actions_succeed_through_the_outbox(servers):
    api = HttpApi(url(""), PASSWORD)
    # a batch with codes, its public page seen while Redis was up
    sold = Flow(api)
    sold.resting()
    sold.sample()
    sold.result("negative")
    time.sleep(REST_SECONDS + 0.5)
    sold.post(sold.operator, "move-to-storage")
    sold.post(sold.operator, "issue-codes")
    token = api(sold.operator).get(f"/api/batches/{sold.number}/codes/").json()["results"][0]["token"]
    assert requests.get(url(f"/c/{token}"), timeout=10).status_code == 200
    flow = Flow(api)
    flow.disinfected()

    before = servers.outbox_states("complete_rest")
    assert before["pending"] == 0  # every timer so far went to the broker at once

    servers.processes.kill("redis")

    # the action that starts a rest timer succeeds; the timer waits in the outbox
    assert flow.post(flow.operator, "move-to-resting")["status"] == "resting"
    assert servers.outbox_states("complete_rest") == before + Counter(pending=1)
    Flow(api).declare()
    # the public page answers without its cache
    public = requests.get(url(f"/c/{token}"), timeout=10)
    assert public.status_code == 200 and sold.number in public.text
    # /healthz names the broker
    health = requests.get(url("/healthz"), timeout=15)
    assert health.status_code == 503
    assert health.json()["broker"].startswith("error") and health.json()["database"] == "ok"

    servers.processes.start("redis", redis_server_argv(REDIS_PORT, servers.processes.workdir))
    wait_until(redis_answers, timeout=20, what="Redis back")

    # the relay hands the waiting timer over
    run([PYTHON, "manage.py", "outbox_relay", "--once"], env=servers.env)
    assert servers.outbox_states("complete_rest") == before + Counter(sent=1)
    assert requests.get(url("/healthz"), timeout=10).json()["broker"] == "ok"
