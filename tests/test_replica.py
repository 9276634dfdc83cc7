"""The regulator's read replica, against a real one: a PostgreSQL primary and a streaming
replica of the test's own (pg_createcluster on ports 5441/5442, pg_basebackup -R), and a
gunicorn server with DATABASE_URL on the primary and DATABASE_REPLICA_URL on the replica.

With replay paused on the replica, a change on the primary is not there yet. So a regulator's
trace that does not show it was read from the replica, and an answer that does show it was
read from the primary. Both clusters are dropped at the end (pg_dropcluster), also on failure.
"""

import os
import re
import secrets
import time
from contextlib import contextmanager

import psycopg
import pytest
import requests

from markets.selectors import EXPORT_HEADER

from .processes import (
    BIN,
    PYTHON,
    OwnCluster,
    Processes,
    answers,
    assert_ports_free,
    checked,
    postgres_owned_temp_dir,
    redis_forget_queue,
    redis_url,
    run,
    wait_until,
)

pytestmark = pytest.mark.replica

PRIMARY_PORT, REPLICA_PORT, WEB_PORT = 5441, 5442, 18260
PASSWORD = "replica-pass-123"
PIN_SECONDS = 4


def scalar(url: str, sql: str, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


class Site:
    def __init__(self, base: str, primary: str, replica: str, processes: Processes, replica_cluster: OwnCluster):
        self.base, self.primary, self.replica, self.processes = base, primary, replica, processes
        self.replica_cluster = replica_cluster
        self.tokens: dict[str, str] = {}

    def call(self, username: str, method: str, path: str, body=None, expect: int = 200):
        if username not in self.tokens:
            answer = requests.post(
                f"{self.base}/api/auth/token/", json={"username": username, "password": PASSWORD}, timeout=30
            )
            assert answer.status_code == 200, answer.text
            self.tokens[username] = answer.json()["token"]
        response = requests.request(
            method, self.base + path, json=body, timeout=30, headers={"Authorization": f"Token {self.tokens[username]}"}
        )
        assert response.status_code == expect, (
            method,
            path,
            response.status_code,
            response.text[:500],
            self.processes.logs(),
        )
        return response

    def action(self, username: str, number: str, action: str, body=None, expect: int = 200) -> dict:
        return self.call(username, "POST", f"/api/batches/{number}/{action}/", body, expect).json()

    def approved_batch(self) -> str:
        number = self.call(
            "merchant-a1",
            "POST",
            "/api/batches/",
            {
                "market": "MKT-A",
                "customs_declaration_no": f"3101{secrets.randbelow(10**14):014d}",
                "origin_country": "IT",
                "port_of_entry": "上海浦东",
                "lines": [
                    {
                        "product_name": "羊毛大衣",
                        "category": "服装",
                        "specification": "女款 M 码",
                        "quantity": 2,
                        "unit": "件",
                    }
                ],
            },
            expect=201,
        ).json()["number"]
        self.action("merchant-a1", number, "submit")
        self.action("reviewer-a", number, "approve", {"warehouse": "WH-1"})
        return number

    def arrive(self, number: str) -> dict:
        lines = self.call("operator-1", "GET", f"/api/batches/{number}/").json()["lines"]
        return self.action(
            "operator-1",
            number,
            "arrive",
            {
                "lines": [
                    {
                        "line": line["id"],
                        "received_quantity": line["quantity"],
                        "type_matches": True,
                        "spec_matches": True,
                    }
                    for line in lines
                ]
            },
        )

    def signed_in_browser(self, username: str) -> requests.Session:
        """A browser session signed in through the login page."""
        browser = requests.Session()
        login = f"{self.base}/accounts/login/"
        assert browser.get(login, timeout=30).status_code == 200
        answer = browser.post(
            login,
            timeout=30,
            headers={"Referer": login},
            data={
                "username": username,
                "password": PASSWORD,
                "next": "/dashboard/",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
        )
        assert answer.status_code == 200 and answer.url.endswith("/dashboard/"), (answer.status_code, answer.url)
        return browser

    def dashboard_occupancy(self, browser: requests.Session, warehouse: str = "WH-1") -> dict[str, int]:
        """Batches per zone of one warehouse, as the regulator's dashboard shows them."""
        page = browser.get(f"{self.base}/dashboard/", timeout=30)
        assert page.status_code == 200 and page.url.endswith("/dashboard/"), (page.status_code, page.url)
        section = re.split(rf">{warehouse} ", page.text, maxsplit=1)[1].split('class="occ-warehouse"')[0]
        return {
            label: int(count)
            for label, count in re.findall(r'<th scope="row">([^<]+)</th><td class="num">(\d+)</td>', section)
        }

    def traced_status(self, number: str) -> str:
        """What the regulator's trace of the batch says its status is."""
        return self.call("regulator", "GET", f"/api/trace/batches/{number}/").json()["batch"]["status"]

    def caught_up(self) -> bool:
        primary_lsn = scalar(self.primary, "SELECT pg_current_wal_lsn()::text")
        return scalar(self.replica, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [primary_lsn])

    def wait_caught_up(self) -> None:
        wait_until(self.caught_up, timeout=30, what="the replica to replay the primary's WAL")

    @contextmanager
    def replay_paused(self):
        """The replica stops applying the primary's changes until the block ends."""
        self.wait_caught_up()
        with psycopg.connect(self.replica, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        wait_until(
            lambda: scalar(self.replica, "SELECT pg_get_wal_replay_pause_state()") == "paused",
            timeout=10,
            what="replay paused",
        )
        try:
            yield
        finally:
            with psycopg.connect(self.replica, autocommit=True) as conn:
                conn.execute("SELECT pg_wal_replay_resume()")

    def trace_queries(self, url: str, subject: str) -> int:
        return scalar(url, "SELECT count(*) FROM markets_tracequery WHERE subject = %s", [subject])


@pytest.fixture(scope="module")
def site():
    """Primary and replica clusters, the schema and demo world on the primary, one web server
    reading the regulator's pages from the replica. Everything is dropped in a finally."""
    own = postgres_owned_temp_dir("wh_rep_")
    primary, replica = OwnCluster("primary", PRIMARY_PORT), OwnCluster("replica", REPLICA_PORT)
    processes = Processes(own.path, {})
    queue = f"rep{secrets.token_hex(3)}-celery"
    try:
        assert_ports_free(PRIMARY_PORT, REPLICA_PORT, WEB_PORT)
        primary.create(own.path / "primary")
        primary.start()
        with psycopg.connect(f"{primary.url}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE warehouse")
        primary_url, replica_url = f"{primary.url}/warehouse", f"{replica.url}/warehouse"
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "CELERY_", "PYTEST_"))
        }
        var = own.path / "var"
        var.mkdir()
        env.update(
            DATABASE_URL=primary_url,
            DATABASE_REPLICA_URL=replica_url,
            REDIS_URL=redis_url(),
            CELERY_QUEUE=queue,
            CELERY_TASK_ALWAYS_EAGER="1",
            SECRET_KEY=secrets.token_hex(32),
            DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            PUBLIC_BASE_URL=f"http://127.0.0.1:{WEB_PORT}",
            VAR_DIR=str(var),
            DJANGO_SETTINGS_MODULE="config.settings",
            LOG_LEVEL="WARNING",
            REPLICA_PIN_SECONDS=str(PIN_SECONDS),
        )
        run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env)
        run([PYTHON, "manage.py", "seed_demo", "--password", PASSWORD], env=env)

        # The replica: its own cluster's configuration, the data a base backup of the primary
        # (-R: it starts as a standby streaming from the primary).
        replica.create(own.path / "replica-init")
        checked(
            [
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(PRIMARY_PORT),
                "-U",
                "postgres",
                "-D",
                str(own.path / "replica-data"),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
            user="postgres",
        )
        replica.set("data_directory", str(own.path / "replica-data"))
        replica.start()
        assert scalar(replica_url, "SELECT pg_is_in_recovery()") is True

        processes.env = env
        processes.start(
            "web",
            [
                str(BIN / "gunicorn"),
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{WEB_PORT}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
            ],
        )
        wait_until(
            lambda: answers(f"http://127.0.0.1:{WEB_PORT}/healthz"),
            timeout=60,
            what="web server",
            diagnostics=processes.logs,
        )
        yield Site(f"http://127.0.0.1:{WEB_PORT}", primary_url, replica_url, processes, replica)
    finally:
        try:
            processes.stop_all()
            redis_forget_queue(redis_url(), queue)
        finally:
            try:
                replica.drop()
            finally:
                try:
                    primary.drop()
                finally:
                    own.remove()


def test_the_regulators_trace_reads_the_replica_while_the_operator_reads_the_primary(site):
    number = site.approved_batch()
    site.arrive(number)
    site.wait_caught_up()
    assert site.traced_status(number) == "pre_storage"

    with site.replay_paused():
        # Signing in writes a session the replica does not have yet: who is asking is read
        # from the primary, or the dashboard would send the regulator back to the login page.
        browser = site.signed_in_browser("regulator")
        occupancy = site.dashboard_occupancy(browser)
        assert occupancy["仓前区"] >= 1

        # Given a change on the primary that the replica has not replayed yet
        site.action(
            "operator-1",
            number,
            "disinfect",
            {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"},
            expect=201,
        )
        moved = site.action("operator-1", number, "move-to-resting")
        assert moved["status"] == "resting"
        # the regulator's dashboard comes from the replica: the batch is still in pre-storage
        assert site.dashboard_occupancy(browser) == occupancy
        # then the operator's own detail after the action is fresh (primary)
        assert site.call("operator-1", "GET", f"/api/batches/{number}/").json()["status"] == "resting"
        # and so is the regulator's batch detail (not one of the read-only trace pages)
        assert site.call("regulator", "GET", f"/api/batches/{number}/").json()["status"] == "resting"
        before_primary = site.trace_queries(site.primary, number)
        before_replica = site.trace_queries(site.replica, number)

        # When the regulator traces the batch
        traced = site.traced_status(number)

        # then the trace came from the replica: it does not know the batch rests yet
        assert traced == "pre_storage"
        # and the record of the regulator's look-up was written on the primary
        assert site.trace_queries(site.primary, number) == before_primary + 1
        assert site.trace_queries(site.replica, number) == before_replica
        # The sales export streams from the replica too (a server-side cursor on a standby).
        merchant = moved["merchant"]["id"]
        export = site.call("regulator", "GET", f"/api/trace/merchants/{merchant}/sales/?format=csv")
        assert export.headers["Content-Type"].startswith("text/csv")
        assert export.content.decode("utf-8-sig").splitlines() == [",".join(EXPORT_HEADER)]  # complete, no sale yet

    # Once replay resumes, the regulator sees the change.
    site.wait_caught_up()
    assert site.traced_status(number) == "resting"
    assert site.dashboard_occupancy(browser) == {
        **occupancy,
        "仓前区": occupancy["仓前区"] - 1,
        "静置区": occupancy["静置区"] + 1,
    }
    assert site.trace_queries(site.replica, number) == site.trace_queries(site.primary, number)


def test_a_regulator_who_changed_something_reads_from_the_primary_right_after(site):
    watched, recalled = site.approved_batch(), site.approved_batch()
    site.wait_caught_up()
    with site.replay_paused():
        site.arrive(watched)
        assert site.traced_status(watched) == "approved"  # from the replica: not replayed yet

        # When the regulator changes something (a recall)
        site.action("regulator", recalled, "recall", {"reason": "抽检发现标签不符"})

        # then their reads come from the primary for a while: the trace is fresh
        pinned_at = time.monotonic()
        assert site.traced_status(watched) == "pre_storage"

        # and after REPLICA_PIN_SECONDS from the replica again (still paused: stale)
        time.sleep(max(0.0, PIN_SECONDS + 0.5 - (time.monotonic() - pinned_at)))
        assert site.traced_status(watched) == "approved"


def test_other_roles_never_read_from_the_replica(site):
    number = site.approved_batch()
    site.wait_caught_up()
    with site.replay_paused():
        site.arrive(number)
        # The merchant's own detail and list come from the primary
        assert site.call("merchant-a1", "GET", f"/api/batches/{number}/").json()["status"] == "pre_storage"
        listed = site.call("merchant-a1", "GET", f"/api/batches/?search={number}").json()["results"]
        assert [row["status"] for row in listed] == ["pre_storage"]
        # and so do the reviewer's and the operator's
        assert site.call("reviewer-a", "GET", f"/api/batches/{number}/").json()["status"] == "pre_storage"
        assert site.call("operator-1", "GET", f"/api/batches/{number}/").json()["status"] == "pre_storage"


def test_while_the_replica_is_down_the_regulator_reads_from_the_primary(site):
    number = site.approved_batch()
    site.wait_caught_up()
    site.replica_cluster.stop()
    try:
        site.arrive(number)
        # The trace answers, from the primary: it knows of the arrival at once.
        assert site.traced_status(number) == "pre_storage"
        assert "read replica unreachable" in site.processes.started["web"].log.read_text(errors="replace")
    finally:
        site.replica_cluster.start()
    site.wait_caught_up()
    assert site.traced_status(number) == "pre_storage"
