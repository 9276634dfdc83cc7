"""Several machines, for real: nginx in front of two gunicorn servers, two Celery workers and
two Celery beats on one PostgreSQL database and one Redis. A hundred batches go through the
whole process over HTTP at once while one web server, one worker and one beat are killed
(kill -9) midway. Every batch must still reach its end, the rest must end exactly once, no
code may be issued twice, and no request may fail except those in flight on the killed server.

The database is one of its own (`mn_<random>`, dropped at the end) on the PostgreSQL server of
DATABASE_URL, or the local one when the suite runs on SQLite: this test always runs.
The figures it prints are those in the README.
"""

import os
import secrets
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import pytest
import requests

from .processes import (
    BIN,
    PYTHON,
    OwnTempDir,
    Processes,
    answers,
    assert_ports_free,
    nginx_argv,
    nginx_config,
    redis_forget_queue,
    redis_url,
    run,
    scratch_database,
    wait_until,
)

pytestmark = pytest.mark.multinode

NGINX_PORT, WEB_PORTS = 18250, (18251, 18252)
BATCHES = 100
REST_SECONDS = 15
SWEEP_SECONDS = 2
PASSWORD = "multinode-pass-123"
CLIENT_THREADS = 10

# Who declares, reviews and handles each batch: the demo world's four merchants in turn.
PEOPLE = [
    ("merchant-a1", "MKT-A", "reviewer-a", "operator-1", "WH-1"),
    ("merchant-a2", "MKT-A", "reviewer-a", "operator-1", "WH-1"),
    ("merchant-b1", "MKT-B", "reviewer-b", "operator-1", "WH-1"),
    ("merchant-c1", "MKT-C", "reviewer-c", "operator-2", "WH-2"),
]
USERS = sorted({name for row in PEOPLE for name in (row[0], row[2], row[3])})


# --- the machines ---------------------------------------------------------------------------


def web(index: int, port: int) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--worker-class",
        "gthread",
        "--threads",
        "2",
        "--timeout",
        "60",
        "--graceful-timeout",
        "5",
        # Longer than nginx keeps an idle upstream connection (60 s): nginx closes it, never
        # gunicorn (its default is 2 s), so no request is sent on a connection being closed (a
        # POST would get 502 and not be retried). Sync workers (production) close every
        # connection themselves and say so; this only matters for gthread.
        "--keep-alive",
        "75",
    ]


def worker(index: int, node: str) -> list[str]:
    return [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "--pool=threads",
        "--concurrency=2",
        "-n",
        f"{node}-worker-{index}@%h",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]


def beat(index: int, node: str, directory) -> list[str]:
    return [
        str(BIN / "celery"),
        "-A",
        "config",
        "beat",
        "--loglevel=INFO",
        "--schedule",
        str(directory / f"beat-{index}-schedule"),
        "--pidfile",
        str(directory / f"beat-{index}.pid"),
    ]


def fleet(node: str, directory) -> dict[str, list[str]]:
    """Every process of the deployment by name. Another kind of process is one more line here."""
    return {
        **{f"web-{i}": web(i, port) for i, port in enumerate(WEB_PORTS, start=1)},
        **{f"worker-{i}": worker(i, node) for i in (1, 2)},
        **{f"beat-{i}": beat(i, node, directory) for i in (1, 2)},
        **{f"relay-{i}": [PYTHON, "manage.py", "outbox_relay"] for i in (1, 2)},
    }


# Which log line says that a process is ready (nginx and the web servers are asked over HTTP).
READY_LINE = {"worker": " ready.", "beat": "beat: Starting..."}

# Killed midway, like a machine that loses power.
KILLED = ("web-1", "worker-1", "beat-1")


def is_ready(processes: Processes, name: str) -> bool:
    kind, _, index = name.partition("-")
    if kind == "web":
        return answers(f"http://127.0.0.1:{WEB_PORTS[int(index) - 1]}/healthz")
    if kind == "nginx":
        return answers(f"http://127.0.0.1:{NGINX_PORT}/healthz")
    line = READY_LINE.get(kind)  # a kind with no ready line is ready once it runs
    return line is None or line in processes.started[name].log.read_text(errors="replace")


@pytest.fixture
def deployment():
    """Starts the deployment on a database of its own; stops everything and drops the database
    in a finally, also when the test fails."""
    node = f"mn{secrets.token_hex(3)}"
    own = OwnTempDir("mn_run_")
    queue = f"{node}-celery"
    try:
        with scratch_database("mn") as database_url:
            processes = Processes(own.path, environment(database_url, queue, own.path))
            try:
                start(processes, node, own.path)
                yield Deployment(processes=processes, database_url=database_url, base=f"http://127.0.0.1:{NGINX_PORT}")
            finally:
                processes.stop_all()  # before the database is dropped
    finally:
        try:
            redis_forget_queue(redis_url(), queue)
        finally:
            own.remove()


def environment(database_url: str, queue: str, directory) -> dict:
    var = directory / "var"
    var.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "CELERY_", "PYTEST_"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url(),
        CELERY_QUEUE=queue,
        REST_PERIOD_SECONDS=str(REST_SECONDS),
        REST_SWEEP_SECONDS=str(SWEEP_SECONDS),
        SECRET_KEY=secrets.token_hex(32),
        DEBUG="0",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{NGINX_PORT}",
        VAR_DIR=str(var),
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
    )
    return env


def start(processes: Processes, node: str, directory) -> None:
    """Schema and demo world, then every process of the fleet and nginx, each until it is ready."""
    assert_ports_free(NGINX_PORT, *WEB_PORTS)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=processes.env)
    run([PYTHON, "manage.py", "seed_demo", "--password", PASSWORD], env=processes.env)
    for name, argv in fleet(node, directory).items():
        processes.start(name, argv)
    nginx_dir = directory / "nginx"
    nginx_dir.mkdir()
    directory.chmod(0o711)  # nginx's unprivileged workers reach their temp files in it
    processes.start("nginx", nginx_argv(nginx_dir, nginx_config(nginx_dir, port=NGINX_PORT, upstreams=list(WEB_PORTS))))
    for name in processes.started:
        wait_until(
            lambda name=name: is_ready(processes, name) or not processes.alive(name),
            timeout=90,
            what=f"{name} ready",
            diagnostics=processes.logs,
        )
        assert processes.alive(name), processes.logs()


@dataclass
class Deployment:
    processes: Processes
    database_url: str
    base: str


# --- the clients ----------------------------------------------------------------------------


@dataclass
class Attempt:
    step: str
    status: int | None  # None: the connection failed
    started: float
    ended: float
    retry: bool


@dataclass
class Record:
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, attempt: Attempt) -> None:
        with self.lock:
            self.attempts.append(attempt)


class Unexpected(AssertionError):
    pass


class Client:
    """One person's HTTP client through nginx. Every POST carries an Idempotency-Key; a
    connection error or a 5xx is retried with the same key, so an action is done once."""

    def __init__(self, base: str, record: Record, token: str | None = None):
        self.base, self.record, self.token = base, record, token
        self.local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            if self.token:
                self.local.session.headers["Authorization"] = f"Token {self.token}"
        return self.local.session

    def call(self, step: str, method: str, path: str, body=None, *, expect=(200,), tries: int = 12):
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else {}
        for attempt in range(tries):
            started = time.monotonic()
            try:
                response = self.session.request(method, self.base + path, json=body, headers=headers, timeout=(3, 60))
            except requests.RequestException:
                self.record.add(Attempt(step, None, started, time.monotonic(), attempt > 0))
                time.sleep(0.2 * (attempt + 1))
                continue
            self.record.add(Attempt(step, response.status_code, started, time.monotonic(), attempt > 0))
            if response.status_code >= 500:
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status_code not in expect:
                raise Unexpected(f"{step} {method} {path}: {response.status_code} {response.text[:400]}")
            return response
        raise Unexpected(f"{step} {method} {path}: no answer after {tries} tries")


def sign_in(base: str, record: Record) -> dict[str, Client]:
    anonymous = Client(base, record)
    clients = {}
    for username in USERS:
        answer = anonymous.call("token", "POST", "/api/auth/token/", {"username": username, "password": PASSWORD})
        clients[username] = Client(base, record, answer.json()["token"])
    return clients


# --- one batch through the process ----------------------------------------------------------


def declare_to_resting(clients, index: int) -> dict:
    """Declaration to a negative result while resting; returns what the second half needs."""
    merchant, market, reviewer, operator, warehouse = PEOPLE[index % len(PEOPLE)]
    m, r, o = clients[merchant], clients[reviewer], clients[operator]
    lines = [
        {
            "product_name": "羊毛大衣",
            "category": "服装",
            "specification": "女款 M 码",
            "quantity": 1 + index % 3,
            "unit": "件",
        },
        {
            "product_name": "真丝围巾",
            "category": "服饰配件",
            "specification": "180×70 cm",
            "quantity": 1 + index % 2,
            "unit": "条",
        },
    ]
    declared = m.call(
        "declare",
        "POST",
        "/api/batches/",
        {
            "market": market,
            "customs_declaration_no": f"31012026{index:010d}",
            "origin_country": "IT",
            "port_of_entry": "上海浦东",
            "lines": lines,
        },
        expect=(201,),
    ).json()
    number = declared["number"]
    path = f"/api/batches/{number}"
    m.call("submit", "POST", f"{path}/submit/")
    approved = r.call("approve", "POST", f"{path}/approve/", {"warehouse": warehouse}).json()
    arrival = [
        {"line": line["id"], "received_quantity": line["quantity"], "type_matches": True, "spec_matches": True}
        for line in approved["lines"]
    ]
    arrived = o.call("arrive", "POST", f"{path}/arrive/", {"lines": arrival}).json()
    assert arrived["status"] == "pre_storage", arrived
    o.call(
        "disinfect",
        "POST",
        f"{path}/disinfect/",
        {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"},
        expect=(201,),
    )
    resting = o.call("move-to-resting", "POST", f"{path}/move-to-resting/").json()
    assert resting["status"] == "resting", resting
    o.call("sample", "POST", f"{path}/samples/", {"sample_no": f"S-{number}", "lab": "杭州市疾控中心"}, expect=(201,))
    o.call(
        "test-result",
        "POST",
        f"{path}/test-results/",
        {"sample_no": f"S-{number}", "result": "negative", "report_no": f"R-{number}"},
        expect=(201,),
    )
    return {
        "index": index,
        "number": number,
        "rest_until": datetime.fromisoformat(resting["rest_until"]),
        "items": sum(line["quantity"] for line in lines),
    }


def rest_to_sale(clients, batch: dict) -> dict:
    """After rest_until: storage (asked again while the system has not yet ended the rest),
    codes, release of all, one sale."""
    merchant, _market, _reviewer, operator, _warehouse = PEOPLE[batch["index"] % len(PEOPLE)]
    m, o = clients[merchant], clients[operator]
    path = f"/api/batches/{batch['number']}"
    time.sleep(max(0.0, (batch["rest_until"] - datetime.now(batch["rest_until"].tzinfo)).total_seconds()))
    for _ in range(120):
        answer = o.call("move-to-storage", "POST", f"{path}/move-to-storage/", expect=(200, 409))
        if answer.status_code == 200:
            break
        assert answer.json()["code"] == "rest_not_complete", answer.text
        time.sleep(0.5)
    else:
        raise Unexpected(f"{batch['number']} never left resting")
    coded = o.call("issue-codes", "POST", f"{path}/issue-codes/").json()
    assert coded["status"] == "coded", coded
    codes = o.call("codes", "GET", f"{path}/codes/").json()["results"]
    released = o.call("release", "POST", f"{path}/release/", {"all": True}).json()
    assert released["status"] == "released", released
    m.call(
        "sale",
        "POST",
        "/api/sales/",
        {"codes": [codes[0]["token"]], "buyer_name": "王女士", "buyer_phone": "13900001234", "buyer_kind": "consumer"},
        expect=(201,),
    )
    final = m.call("detail", "GET", f"{path}/").json()
    return {**batch, "status": final["status"], "tokens": [code["token"] for code in codes]}


# --- the test -------------------------------------------------------------------------------


def test_a_hundred_batches_through_two_of_everything_while_one_of_each_is_killed(deployment, capsys):
    processes = deployment.processes
    record = Record()
    began = time.monotonic()
    clients = sign_in(deployment.base, record)
    killed_at: list[float] = []
    finished: list[dict] = []

    with ThreadPoolExecutor(CLIENT_THREADS) as first_half, ThreadPoolExecutor(CLIENT_THREADS) as second_half:
        resting = [first_half.submit(declare_to_resting, clients, index) for index in range(BATCHES)]
        done = []
        for future in as_completed(resting):
            batch = future.result()
            done.append(second_half.submit(rest_to_sale, clients, batch))
            if len(done) == BATCHES // 2:
                # Midway: timers are queued on both workers and requests are in flight on both servers.
                killed_at.append(time.monotonic())
                for name in KILLED:
                    processes.kill(name)
        finished = [future.result() for future in done]
    wall = time.monotonic() - began

    # Every batch reached its end: released, with one of its codes sold.
    assert len(finished) == BATCHES
    assert Counter(batch["status"] for batch in finished) == {"released": BATCHES}
    numbers = [batch["number"] for batch in finished]
    with psycopg.connect(deployment.database_url) as conn:
        rests = dict(
            conn.execute(
                "SELECT b.number, count(e.id) FROM batches_batch b LEFT JOIN batches_event e "
                "ON e.batch_id = b.id AND e.action = 'complete_rest' WHERE b.number = ANY(%s) GROUP BY b.number",
                [numbers],
            ).fetchall()
        )
        ended_by = Counter(
            row[0] or "timer"
            for row in conn.execute(
                "SELECT e.details->>'by' FROM batches_event e JOIN batches_batch b ON b.id = e.batch_id "
                "WHERE e.action = 'complete_rest' AND b.number = ANY(%s)",
                [numbers],
            ).fetchall()
        )
        codes = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT b.number, count(c.id), count(DISTINCT c.token), count(c.id) FILTER (WHERE c.status = 'sold'), "
                "(SELECT sum(l.received_quantity) FROM batches_batchline l WHERE l.batch_id = b.id) "
                "FROM batches_batch b JOIN batches_code c ON c.batch_id = b.id WHERE b.number = ANY(%s) "
                "GROUP BY b.id, b.number",
                [numbers],
            ).fetchall()
        }
        all_tokens, distinct_tokens = conn.execute(
            "SELECT count(*), count(DISTINCT token) FROM batches_code"
        ).fetchone()

    # The rest ended exactly once per batch, whoever ended it (timer, sweep, or the crew's action).
    assert rests == dict.fromkeys(numbers, 1)
    # No code issued twice: one per received item, unique tokens, one sold per batch.
    assert {batch["number"]: codes[batch["number"]] for batch in finished} == {
        batch["number"]: (batch["items"], batch["items"], 1, batch["items"]) for batch in finished
    }
    assert all_tokens == distinct_tokens
    assert all(len(set(batch["tokens"])) == batch["items"] for batch in finished)

    # No 5xx except requests in flight on the killed web server when it died: nginx answers
    # 502 for those (a POST it had sent is not resent), and the client repeated them.
    attempts = record.attempts
    failed = [a for a in attempts if a.status is None or a.status >= 500]
    kill = killed_at[0]
    assert all(a.status in (None, 502) and a.started <= kill + 0.5 and a.ended >= kill - 0.5 for a in failed), [
        (a.step, a.status, round(a.started - kill, 2), round(a.ended - kill, 2)) for a in failed
    ]
    assert all(processes.alive(name) for name in ("web-2", "worker-2", "beat-2", "nginx")), processes.logs()
    assert not any(processes.alive(name) for name in KILLED)

    with capsys.disabled():
        print(figures(attempts, wall=wall, ended_by=ended_by, kill=kill - began))


def figures(attempts: list[Attempt], *, wall: float, ended_by: Counter, kill: float) -> str:
    steps = defaultdict(list)
    for a in attempts:
        if a.status is not None and a.status < 500:
            steps[a.step].append((a.ended - a.started) * 1000)

    def pct(values, q):
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    lines = [
        "",
        (
            f"multinode: {BATCHES} batches, 2 web (gunicorn) behind nginx, 2 Celery workers, 2 beats; "
            f"REST_PERIOD_SECONDS={REST_SECONDS}, REST_SWEEP_SECONDS={SWEEP_SECONDS}"
        ),
        f"  killed -9 at {kill:.1f} s: {', '.join(KILLED)}",
        (
            f"  wall time {wall:.1f} s; requests {len(attempts)}; retries {sum(a.retry for a in attempts)}; "
            f"5xx seen {sum(1 for a in attempts if a.status and a.status >= 500)}; "
            f"connection errors {sum(1 for a in attempts if a.status is None)}"
        ),
        f"  rest ended by: {dict(sorted(ended_by.items()))}",
        f"  {'step':<16}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}",
    ]
    for step, values in steps.items():
        lines.append(f"  {step:<16}{len(values):>6}{statistics.median(values):>9.0f}{pct(values, 0.99):>9.0f}")
    return "\n".join(lines)
