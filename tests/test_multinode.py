"""Several machines, for real: nginx in front of two gunicorn servers, two Celery workers and
two Celery beats on one PostgreSQL database and one Redis. A hundred batches go through the
whole process over HTTP at once while one web server, one worker and one beat are killed
(kill -9) midway. Every batch must still reach its end, the rest must end exactly once, no
code may be issued twice, and no request may fail except those in flight on the killed server.
Then a phone's 9 MiB photo goes up through nginx as evidence and comes back unchanged, from
each web server: the photos are in an S3-compatible store (moto's S3 in server mode, a process
of the test's own) that both web servers use, never on a machine's disk.

What runs is what ships: the nginx site of deploy/nginx (rendered by its render.py, with a
self-signed certificate: the clients speak HTTPS), each process started with the ExecStart and
Environment of its unit in deploy/systemd, every process given the environment template
deploy/warehouse.env.example filled in as docs/deploy.md says.

The database is one of its own (`mn_<random>`, dropped at the end) on the PostgreSQL server of
DATABASE_URL, or the local one when the suite runs on SQLite: this test always runs.
The figures it prints are those in docs/scaling.md.
"""

import hashlib
import io
import json
import os
import random
import secrets
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import requests
from PIL import Image

from .processes import (
    BIN,
    PYTHON,
    ROOT,
    OwnTempDir,
    Processes,
    S3Store,
    answers,
    assert_ports_free,
    nginx_argv,
    nginx_config,
    redis_forget_queue,
    redis_url,
    run,
    scratch_database,
    unit_command,
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
# Two machines, each with a web server, a worker, a beat and a relay, started with the shipped
# units' commands (deploy/systemd) and the shipped environment template; the shipped nginx site
# (deploy/nginx, rendered by its render.py) in front of both. Machine 1 loses power midway.

MACHINES = (1, 2)
UNITS = {
    "web": "warehouse-web.service",
    "worker": "warehouse-worker.service",
    "beat": "warehouse-beat.service",
    "relay": "warehouse-relay.service",
}
NGINX_HTTP_PORT = 18254
SERVER_NAME = "127.0.0.1"


def template() -> dict[str, str]:
    """The variables deploy/warehouse.env.example sets (the EnvironmentFile of every unit)."""
    lines = (ROOT / "deploy" / "warehouse.env.example").read_text().splitlines()
    return dict(line.partition("=")[::2] for line in lines if line.strip() and not line.startswith("#"))


def fleet(node: str, directory) -> dict[str, tuple[list[str], dict]]:
    """Every process of the deployment by name: (argv, environment) of its shipped unit on its
    machine. /var/lib/warehouse and /run are each machine's own; the evidence photos are in the
    S3-compatible store both machines use, the label sheets on a directory both machines mount
    (docs/deploy.md, "Several machines")."""
    processes = {}
    for machine in MACHINES:
        state = directory / f"machine-{machine}"
        (state / "prometheus").mkdir(parents=True, exist_ok=True)
        paths = {
            "/opt/warehouse/.venv/bin": str(BIN),
            "/opt/warehouse": str(ROOT),
            "/var/lib/warehouse": str(state),
            "/run/warehouse-prometheus": str(state / "prometheus"),
            "127.0.0.1:8000": f"127.0.0.1:{WEB_PORTS[machine - 1]}",
        }
        for kind, unit in UNITS.items():
            processes[f"{kind}-{machine}"] = unit_command(
                unit, machine=f"{node}-m{machine}", env=environment_file(directory), paths=paths
            )
    return processes


def environment_file(directory) -> dict:
    return json.loads((directory / "warehouse.env.json").read_text())


# Which log line says that a process is ready (nginx and the web servers are asked over HTTP).
READY_LINE = {"worker": " ready.", "beat": "beat: Starting..."}

# Killed midway, like a machine that loses power.
KILLED = ("web-1", "worker-1", "beat-1")


def is_ready(processes: Processes, name: str, certificate) -> bool:
    kind, _, index = name.partition("-")
    if kind == "web":
        return answers(f"http://127.0.0.1:{WEB_PORTS[int(index) - 1]}/healthz")
    if kind == "nginx":
        try:
            return requests.get(f"https://{SERVER_NAME}:{NGINX_PORT}/healthz", timeout=2, verify=certificate).ok
        except requests.RequestException:
            return False
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
            processes = Processes(own.path, {"PATH": os.environ["PATH"]})
            try:
                store = S3Store.start(processes)  # it starts while the schema is made
                processes.env = environment(database_url, queue, own.path, store)
                certificate, machines = start(processes, node, own.path, store)
                yield Deployment(
                    processes=processes,
                    database_url=database_url,
                    base=f"https://{SERVER_NAME}:{NGINX_PORT}",
                    certificate=str(certificate),
                    store=store,
                    fleet=machines,
                    directory=own.path,
                )
            finally:
                processes.stop_all()  # before the database is dropped
    finally:
        try:
            redis_forget_queue(redis_url(), queue)
        finally:
            own.remove()


def environment(database_url: str, queue: str, directory, store: S3Store) -> dict:
    """The shipped environment template with this installation's values, as an administrator
    fills it in (docs/deploy.md, "Several machines": the photos in the S3-compatible store, the
    label sheets on a shared directory), plus what only this test sets (its own queue, a 15 s
    rest); written where fleet() reads it, and returned for the commands run by hand (migrate)."""
    shared = directory / "shared"
    env = template()
    env.update(
        PUBLIC_BASE_URL=f"https://{SERVER_NAME}:{NGINX_PORT}",
        ALLOWED_HOSTS=SERVER_NAME,
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url(),
        # The machine's PATH (systemd gives its own); no mail server on a test machine.
        PATH=os.environ["PATH"],
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
        WEB_WORKERS="2",
        WORKER_CONCURRENCY="2",
        LOG_LEVEL="WARNING",
        **store.environment(),
        # Label sheets are files under MEDIA_ROOT (warehouse/label_sheets.py), not in the store.
        MEDIA_ROOT=str(shared / "media"),
        # This test's own.
        CELERY_QUEUE=queue,
        REST_PERIOD_SECONDS=str(REST_SECONDS),
        REST_SWEEP_SECONDS=str(SWEEP_SECONDS),
        PYTHONUNBUFFERED="1",
    )
    (directory / "warehouse.env.json").write_text(json.dumps(env))
    return {**env, "VAR_DIR": str(directory / "machine-1")}


def start(processes: Processes, node: str, directory, store: S3Store) -> tuple[Path, dict]:
    """Schema and demo world, the bucket, then every process of the fleet and nginx, each until
    it is ready; returns nginx's certificate (the clients trust it) and the fleet."""
    assert_ports_free(NGINX_PORT, NGINX_HTTP_PORT, *WEB_PORTS)
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=processes.env)
    # The demo world stands in for import_orgs; seed_demo refuses production mode (its known password).
    run([PYTHON, "manage.py", "seed_demo", "--password", PASSWORD], env={**processes.env, "PRODUCTION": "0"})
    store.create_bucket()
    machines = fleet(node, directory)
    for name, (argv, env) in machines.items():
        processes.start(name, argv, env=env)
    nginx_dir = directory / "nginx"
    nginx_dir.mkdir()
    directory.chmod(0o711)  # nginx's unprivileged workers reach their temp files in it
    conf, certificate = nginx_config(
        nginx_dir,
        server_name=SERVER_NAME,
        https_port=NGINX_PORT,
        http_port=NGINX_HTTP_PORT,
        upstreams=list(WEB_PORTS),
        static_dir=directory / "machine-1" / "static",
    )
    processes.start("nginx", nginx_argv(nginx_dir, conf))
    for name in processes.started:
        wait_until(
            lambda name=name: is_ready(processes, name, str(certificate)) or not processes.alive(name),
            timeout=90,
            what=f"{name} ready",
            diagnostics=processes.logs,
        )
        assert processes.alive(name), processes.logs()
    return certificate, machines


@dataclass
class Deployment:
    processes: Processes
    database_url: str
    base: str
    certificate: str
    store: S3Store
    fleet: dict
    directory: Path


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

    def __init__(self, base: str, record: Record, token: str | None = None, certificate: str | None = None):
        self.base, self.record, self.token, self.certificate = base, record, token, certificate
        self.local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
            # nginx's own certificate; no CA bundle or proxy from the environment overrides it.
            self.local.session.trust_env = False
            self.local.session.verify = self.certificate or True
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


def sign_in(base: str, record: Record, certificate: str | None = None, password: str = PASSWORD) -> dict[str, Client]:
    anonymous = Client(base, record, certificate=certificate)
    clients = {}
    for username in USERS:
        answer = anonymous.call("token", "POST", "/api/auth/token/", {"username": username, "password": password})
        clients[username] = Client(base, record, answer.json()["token"], certificate)
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
    clients = sign_in(deployment.base, record, deployment.certificate)
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
    assert not any(processes.alive(name) for name in KILLED)
    # Machine 1 comes back (systemd starts its web server at boot) while the results are checked:
    # the photo below is then asked of both web servers.
    argv, env = deployment.fleet["web-1"]
    processes.start("web-1-back", argv, env=env)

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
    wait_until(
        lambda: answers(f"http://127.0.0.1:{WEB_PORTS[0]}/healthz") or not processes.alive("web-1-back"),
        timeout=90,
        what="machine 1's web server back",
        diagnostics=processes.logs,
    )
    assert processes.alive("web-1-back"), processes.logs()

    # A phone's full-size photo (9 MiB) through the shipped nginx as arrival evidence, and back.
    batch = finished[0]
    operator = clients[PEOPLE[batch["index"] % len(PEOPLE)][3]]
    photo = phone_photo()
    assert 9 * 2**20 <= len(photo) < 10 * 2**20
    uploaded = operator.session.post(
        f"{deployment.base}/api/batches/{batch['number']}/attachments/",
        files={"file": ("IMG_2041.jpg", photo, "image/jpeg")},
        data={"kind": "arrival"},
        timeout=(3, 120),
    )
    assert uploaded.status_code == 201, uploaded.text[:400]
    stored = uploaded.json()
    # Stored at most ATTACHMENT_MAX_SIDE (2560 px) on its long side, as every photo since af9795a.
    assert (stored["width"], stored["height"]) == (2560, 1920)
    downloaded = operator.session.get(deployment.base + stored["url"], timeout=(3, 120))
    assert downloaded.status_code == 200 and downloaded.headers["Content-Type"] == "image/jpeg"
    assert len(downloaded.content) == stored["size"]
    assert hashlib.sha256(downloaded.content).hexdigest() == stored["sha256"]

    # It is in the bucket, with its thumbnail (the bucket's only objects), and on no machine's disk.
    with psycopg.connect(deployment.database_url) as conn:
        file, thumbnail = conn.execute(
            "SELECT file, thumbnail FROM batches_attachment WHERE sha256 = %s", [stored["sha256"]]
        ).fetchone()
    objects = deployment.store.objects()
    prefix = S3Store.PREFIX
    assert sorted(objects) == sorted([f"{prefix}/{file}", f"{prefix}/{thumbnail}"])
    assert hashlib.sha256(objects[f"{prefix}/{file}"]).hexdigest() == stored["sha256"]
    disks = [deployment.directory / place / "attachments" for place in ("machine-1", "machine-2", "shared")]
    assert not [path for disk in disks if disk.exists() for path in disk.rglob("*") if path.is_file()]
    # The bucket is private: only the app, with its keys, reads it.
    assert requests.get(f"{deployment.store.endpoint}/{S3Store.BUCKET}/{prefix}/{file}", timeout=10).status_code == 403
    # Each web server answers it by itself, whichever took the upload: straight to each gunicorn
    # (as nginx sends a request: X-Forwarded-Proto https), the photo and its thumbnail.
    for port in WEB_PORTS:
        for url, digest in ((stored["url"], stored["sha256"]), (stored["thumbnail_url"], None)):
            direct = requests.get(
                f"http://127.0.0.1:{port}{url}",
                headers={"Authorization": operator.session.headers["Authorization"], "X-Forwarded-Proto": "https"},
                timeout=(3, 120),
            )
            assert direct.status_code == 200 and direct.headers["Content-Type"] == "image/jpeg", (port, url)
            if digest:
                assert hashlib.sha256(direct.content).hexdigest() == digest, port
            else:
                assert direct.content == objects[f"{prefix}/{thumbnail}"], port

    with capsys.disabled():
        print(figures(attempts, wall=wall, ended_by=ended_by, kill=kill - began))


PHOTO_SIZE = (4000, 3000)


def phone_photo() -> bytes:
    """A 12-megapixel JPEG of 9.2 MiB: what a phone's camera gives (noise compresses as badly as
    a detailed scene)."""
    width, height = PHOTO_SIZE
    image = Image.frombytes("RGB", PHOTO_SIZE, random.Random(20).randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=87)
    return out.getvalue()


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
