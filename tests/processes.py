"""Real processes for the tests that prove the system across machines: web servers, Celery
workers and beats, nginx, PostgreSQL databases and clusters.

Every process starts in a session of its own, so that one `killpg` ends it with its children
(a gunicorn master and its workers, a Celery worker and its pool) the way a machine that dies
ends them. `Processes.stop_all()` ends every group it started; the fixtures call it in a
`finally`, so a failing test leaves nothing running.
"""

import grp
import json
import os
import pwd
import re
import secrets
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(sys.executable).parent


@dataclass
class Started:
    name: str
    process: subprocess.Popen
    log: Path
    killed_at: float | None = field(default=None)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text.splitlines()[-lines:])


class Processes:
    """The processes a test started, by name."""

    def __init__(self, workdir: Path, env: dict):
        self.workdir = workdir
        self.env = env
        self.started: dict[str, Started] = {}

    def start(self, name: str, argv: list[str], *, env: dict | None = None, cwd: Path = ROOT) -> Started:
        log = self.workdir / f"{name}.log"
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**self.env, **(env or {})},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started[name] = Started(name, process, log)
        return self.started[name]

    def kill(self, name: str) -> None:
        """kill -9 the whole process group, like a machine that loses power."""
        started = self.started[name]
        started.killed_at = time.monotonic()
        _signal_group(started.process, signal.SIGKILL)
        started.process.wait(timeout=10)

    def stop(self, name: str, grace: float = 15) -> None:
        """SIGTERM to the whole group, as systemd stops a unit; SIGKILL for what is left."""
        started = self.started[name]
        _signal_group(started.process, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            started.process.wait(timeout=grace)
        _signal_group(started.process, signal.SIGKILL)
        started.process.wait(timeout=10)

    def alive(self, name: str) -> bool:
        return self.started[name].process.poll() is None

    def stop_all(self, grace: float = 15) -> None:
        for started in self.started.values():
            _signal_group(started.process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for started in self.started.values():
            with suppress(subprocess.TimeoutExpired):
                started.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever is left of the group (a pool child, a straggler) ends now.
            _signal_group(started.process, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                started.process.wait(timeout=5)

    def logs(self) -> str:
        return "\n".join(started.tail() for started in self.started.values())


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the group this test started, and never anyone else's. The session leader's pid is
    the group id. While the leader is not reaped its pid cannot be reused, so the group is ours;
    once reaped, the id stays ours only while members of the group remain (Linux keeps a pid
    that is still a group id), and a process that now has that pid is someone else's."""
    group = process.pid
    if process.returncode is not None:
        members = [pid for pid, pgrp in _process_groups() if pgrp == group]
        if not members or group in members:
            return
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _process_groups() -> list[tuple[int, int]]:
    """(pid, process group id) of every live process, from /proc."""
    rows = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
        if fields[0] != "Z":  # a zombie is past signalling
            rows.append((int(stat.parent.name), int(fields[2])))
    return rows


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.2, diagnostics=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{diagnostics()}")


def answers(url: str, status: int = 200) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == status
    except requests.RequestException:
        return False


def run(argv: list[str], *, env: dict, timeout: float = 300, cwd: Path = ROOT) -> str:
    """Run a command to its end (migrate, seed_demo); its output is in the error if it fails."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


# --- PostgreSQL -----------------------------------------------------------------------------


def server_url() -> str:
    """The PostgreSQL server of DATABASE_URL when it names one, else a cluster of the test run's
    own (started on first use, dropped when the run ends): these tests always run on
    PostgreSQL, whatever database the rest of the suite uses, and never on a server they were
    not given."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    if "postgres" not in _OWN_SERVERS:
        _OWN_SERVERS["postgres"] = OwnPostgres()
    return f"{_OWN_SERVERS['postgres'].url}/postgres"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(scheme="postgres", path=f"/{name}").geturl()


@contextmanager
def scratch_database(prefix: str = "mn"):
    """A database of its own on the PostgreSQL server (`mn_<random>`), dropped at the end."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = with_database(server_url(), "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url(), name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url() -> str:
    """REDIS_URL's server, else a redis-server of the test run's own (started on first use,
    stopped when the run ends)."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if "redis" not in _OWN_SERVERS:
        _OWN_SERVERS["redis"] = OwnRedis()
    return _OWN_SERVERS["redis"].url


# --- servers of the test run's own, where the environment names none -------------------------

_OWN_SERVERS: dict = {}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnRedis:
    """A redis-server on a free port, in memory only (no dump, no append-only file)."""

    def __init__(self):
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed: `make test` installs it (Debian package redis-server)")
        self.port = free_port()
        self.own = OwnTempDir("wh_redis_")
        argv = [server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.own.path)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        wait_until(self.answers, timeout=20, what="the test run's own redis-server")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.own.remove()


class OwnPostgres:
    """A PostgreSQL cluster of the test run's own (pg_createcluster, needs root), on a free port."""

    def __init__(self):
        self.cluster = OwnCluster("server", free_port())
        self.own = postgres_owned_temp_dir("wh_pg_server_")
        try:
            self.cluster.create(self.own.path / "data")
            self.cluster.start()
        except BaseException:
            self.stop()
            raise
        self.url = self.cluster.url

    def stop(self) -> None:
        try:
            self.cluster.drop()
        finally:
            self.own.remove()


def stop_own_servers() -> None:
    """Stop the servers this run started for itself (tests/conftest.py, at the session's end)."""
    while _OWN_SERVERS:
        _, server = _OWN_SERVERS.popitem()
        server.stop()


def redis_forget_queue(url: str, queue: str) -> None:
    """Remove what a test's own Celery queue left in Redis: the queue itself and the messages a
    killed worker held unacknowledged (they would come back into a queue nobody reads)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.delete(queue, f"_kombu.binding.{queue}")
        for tag, payload in client.hscan_iter("unacked"):
            try:
                routing_key = json.loads(payload)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


# --- a temporary directory that only its creator deletes ------------------------------------


class OwnTempDir:
    """A directory under the system temp directory that this code created, and the only place
    it ever deletes anything: `remove()` refuses any path that is not that directory."""

    def __init__(self, prefix: str):
        assert prefix and "/" not in prefix, prefix
        self.prefix = prefix
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=tempfile.gettempdir()))

    def remove(self) -> None:
        if self.path.is_symlink():
            raise RuntimeError(f"refusing to delete {self.path}: a symbolic link")
        path = self.path.resolve()
        root = Path(tempfile.gettempdir()).resolve()
        if path.parent != root or not path.name.startswith(self.prefix):
            raise RuntimeError(f"refusing to delete {path}: not a directory this test created")
        shutil.rmtree(path, ignore_errors=True)


# --- the shipped nginx site in front of several web servers ---------------------------------
# Debian's nginx.conf is not ours: the test has a main configuration of its own whose every file
# (pid, logs, temp) is inside the test's directory, and it includes the shipped site rendered by
# deploy/nginx/render.py, the way docs/deploy.md installs it.

NGINX_MAIN = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    include {dir}/warehouse.conf;
}}
"""


def self_signed_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for `name` (an IP address or a host name) and its key, valid for a day."""
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    alt = f"IP:{name}" if re.fullmatch(r"[0-9.]+", name) else f"DNS:{name}"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName={alt}", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def nginx_config(
    directory: Path, *, server_name: str, https_port: int, http_port: int, upstreams: list[int], static_dir: Path
) -> tuple[Path, Path]:
    """(main configuration, certificate): the shipped site for `server_name` on 127.0.0.1, in
    front of the web servers on `upstreams`, with a self-signed certificate."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / "tmp" / name).mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(directory, server_name)
    shutil.copy(ROOT / "deploy" / "nginx" / "warehouse-proxy.conf", directory / "warehouse-proxy.conf")
    options = ["--server-name", server_name, "--certificate", str(cert), "--certificate-key", str(key)]
    options += ["--listen", "127.0.0.1", "--https-port", str(https_port), "--http-port", str(http_port)]
    options += ["--static-dir", str(static_dir), "--snippets-dir", str(directory), "--log-dir", str(directory)]
    for port in upstreams:
        options += ["--upstream", f"127.0.0.1:{port}"]
    site = run([PYTHON, str(ROOT / "deploy" / "nginx" / "render.py"), *options], env={"PATH": os.environ["PATH"]})
    (directory / "warehouse.conf").write_text(site)
    user = ""
    if os.geteuid() == 0:
        # nginx's workers drop root; they must be able to write their temp files.
        user = "user nobody nogroup;"
        directory.chmod(0o755)
        for path in (directory / "tmp", *(directory / "tmp").iterdir()):
            os.chown(path, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_MAIN.format(dir=directory, user=user))
    return conf, cert


# --- the shipped systemd units' commands -----------------------------------------------------


def unit_command(unit: str, *, machine: str, env: dict, paths: dict[str, str]) -> tuple[list[str], dict]:
    """(argv, environment) of deploy/systemd/`unit` as systemd would start it on `machine`:
    its Environment= lines, overridden by `env` (the EnvironmentFile), ExecStart with ${NAME}
    and %H expanded; `paths` maps the installation's paths to this machine's (longest first)."""
    text = (ROOT / "deploy" / "systemd" / unit).read_text().replace("\\\n", " ")
    unit_env = {}
    for line in text.splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            unit_env[name] = value
    full_env = {**unit_env, **env}
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    command = exec_start.removeprefix("ExecStart=").replace("%H", machine)
    command = re.sub(r"\$\{(\w+)\}", lambda match: full_env.get(match.group(1), ""), command)
    for installed in sorted(paths, key=len, reverse=True):
        command = command.replace(installed, paths[installed])
        full_env = {name: value.replace(installed, paths[installed]) for name, value in full_env.items()}
    return shlex.split(command), full_env


def nginx_argv(directory: Path, conf: Path) -> list[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "error.log")]


# --- PostgreSQL clusters of a test's own (pg_createcluster) ---------------------------------
# A previous mistake deleted a machine's whole PostgreSQL cluster. So a cluster here has a name
# only this code gives (`wh_rep_<role>_<pid>`), never the port of the machine's own server, and
# every command that starts, stops or drops it checks both first. Nothing here runs rm: a
# cluster is removed by pg_dropcluster, and the data lives in an OwnTempDir.

PG_VERSION = "15"
PROTECTED_PORT = 5432
OWN_CLUSTER = re.compile(r"^wh_rep_(primary|replica|server)_[0-9]+$")


def pg_clusters() -> dict[str, dict]:
    """The clusters of PG_VERSION that pg_lsclusters knows, by name."""
    done = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True)
    clusters = {}
    for line in done.stdout.splitlines():
        version, name, port, status, _owner, data, *_ = line.split()
        if version == PG_VERSION:
            clusters[name] = {"port": int(port), "status": status, "data": data}
    return clusters


def checked(argv: list[str], *, user: str | None = None) -> str:
    """Run one step; a failure stops everything that follows (with the step's output)."""
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


class OwnCluster:
    """A PostgreSQL cluster this test creates, starts and drops; never `main`, never port 5432."""

    def __init__(self, role: str, port: int):
        self.name = f"wh_rep_{role}_{os.getpid()}"
        self.port = port
        self._refuse_foreign(self.name, port)
        self.created = False

    @staticmethod
    def _refuse_foreign(name: str, port: int) -> None:
        if name == "main" or not OWN_CLUSTER.match(name) or port == PROTECTED_PORT:
            raise RuntimeError(f"refusing to touch cluster {name!r} on port {port}: not one of this test's own")

    def _guard(self) -> None:
        """Before any command: the cluster of this name is ours and on our port."""
        self._refuse_foreign(self.name, self.port)
        listed = pg_clusters().get(self.name)
        if listed is not None and listed["port"] != self.port:
            raise RuntimeError(f"cluster {self.name} is on port {listed['port']}, not {self.port}: not touching it")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def create(self, data_dir: Path) -> None:
        self._guard()
        clusters = pg_clusters()
        if self.name in clusters:
            raise RuntimeError(f"cluster {self.name} exists already")
        taken = [name for name, row in clusters.items() if row["port"] == self.port]
        if taken:
            raise RuntimeError(
                f"port {self.port} belongs to cluster {taken[0]} (a leftover? "
                f"`pg_dropcluster --stop {PG_VERSION} {taken[0]}` removes it)"
            )
        try:
            checked(
                [
                    "pg_createcluster",
                    PG_VERSION,
                    self.name,
                    "-p",
                    str(self.port),
                    "-d",
                    str(data_dir),
                    "--start-conf=manual",
                    "-o",
                    "fsync=off",
                    "-o",
                    "shared_buffers=16MB",
                    "-o",
                    "max_connections=40",
                    "--",
                    "--auth-local=trust",
                    "--auth-host=trust",
                ]
            )
        finally:
            # Registered even if a later step of pg_createcluster failed: then drop() removes it.
            self.created = self.name in pg_clusters()

    def set(self, option: str, value: str) -> None:
        self._guard()
        checked(["pg_conftool", PG_VERSION, self.name, "set", option, value])

    def start(self) -> None:
        self._guard()
        checked(["pg_ctlcluster", PG_VERSION, self.name, "start"])
        wait_until(lambda: self.answers(), timeout=30, what=f"cluster {self.name} accepting connections")

    def stop(self) -> None:
        self._guard()
        checked(["pg_ctlcluster", PG_VERSION, self.name, "stop", "-m", "fast"])

    def answers(self) -> bool:
        try:
            with psycopg.connect(f"{self.url}/postgres", connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def drop(self) -> None:
        if not self.created:
            return
        self._guard()
        if self.name in pg_clusters():
            checked(["pg_dropcluster", "--stop", PG_VERSION, self.name])
        self.created = False


def postgres_owned_temp_dir(prefix: str) -> OwnTempDir:
    """An OwnTempDir the postgres user may write (cluster data directories live in it)."""
    own = OwnTempDir(prefix)
    entry = pwd.getpwnam("postgres")
    os.chown(own.path, entry.pw_uid, entry.pw_gid)
    own.path.chmod(0o700)
    return own


def assert_ports_free(*ports: int) -> None:
    """Fail at once if another program listens on a port a test is about to use: its server
    would otherwise answer the readiness checks in place of ours."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                raise AssertionError(f"port {port} is in use by another program: {exc}") from None


# --- the API over HTTP, for tests.conftest.Flow against a real server ------------------------


class HttpApi:
    """`api(username)` like tests.conftest.Api, over HTTP: each user signs in once with the
    password (POST /api/auth/token/) and keeps a session; answers are `requests` responses,
    which have what Flow reads (status_code, json(), content)."""

    def __init__(self, base: str, password: str):
        self.base, self.password = base, password
        self.sessions: dict[str | None, _Session] = {}

    def __call__(self, username: str | None) -> "_Session":
        if username not in self.sessions:
            session = _Session(self.base)
            if username is not None:
                answer = session.post("/api/auth/token/", {"username": username, "password": self.password})
                assert answer.status_code == 200, (username, answer.status_code, answer.text[:300])
                session.http.headers["Authorization"] = f"Token {answer.json()['token']}"
            self.sessions[username] = session
        return self.sessions[username]


class _Session:
    def __init__(self, base: str):
        self.base, self.http = base, requests.Session()

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.base + path, params=params or None, timeout=(3, 60))

    def post(self, path: str, body=None, format: str = "json") -> requests.Response:
        return self.http.post(self.base + path, json=body if body is not None else {}, timeout=(3, 60))


# --- a connection the test can cut ------------------------------------------------------------


class CuttableProxy:
    """A TCP proxy in this process between a server's clients (gunicorn) and the server
    (PostgreSQL). `cut()` closes every connection and refuses new ones, as a database machine
    that went away does to its clients; `restore()` accepts them again."""

    def __init__(self, port: int, target: tuple[str, int]):
        self.port, self.target = port, target
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.selector = selectors.DefaultSelector()
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.restore()
        self.thread.start()

    def restore(self) -> None:
        with self.lock:
            if self.listener is None:
                listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", self.port))
                listener.listen(64)
                listener.setblocking(False)
                self.listener = listener
                self.selector.register(listener, selectors.EVENT_READ, None)

    def cut(self) -> None:
        with self.lock:
            if self.listener is not None:
                self.selector.unregister(self.listener)
                self.listener.close()
                self.listener = None
            for pair in self.pairs:
                for end in pair:
                    with suppress(KeyError, ValueError):
                        self.selector.unregister(end)
                    with suppress(OSError):
                        end.shutdown(socket.SHUT_RDWR)
                    end.close()
            self.pairs = []

    def close(self) -> None:
        self.running = False
        self.cut()
        self.thread.join(timeout=5)
        self.selector.close()

    def _loop(self) -> None:
        while self.running:
            with self.lock:
                registered = bool(self.selector.get_map())
            if not registered:
                time.sleep(0.05)
                continue
            try:
                events = self.selector.select(timeout=0.1)
            except (OSError, ValueError):
                continue
            with self.lock:
                for key, _mask in events:
                    sock = key.fileobj
                    if sock is self.listener:
                        self._accept()
                    elif key.data is not None:
                        self._forward(sock, key.data)

    def _accept(self) -> None:
        try:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.target, timeout=5)
        except OSError:
            return
        client.setblocking(False)
        server.setblocking(False)
        self.pairs.append((client, server))
        self.selector.register(client, selectors.EVENT_READ, server)
        self.selector.register(server, selectors.EVENT_READ, client)

    def _forward(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            data = source.recv(65536)
            if data:
                sink.setblocking(True)
                sink.sendall(data)
                sink.setblocking(False)
                return
        except OSError:
            pass
        # one end closed: close both
        for pair in [p for p in self.pairs if source in p]:
            self.pairs.remove(pair)
            for end in pair:
                with suppress(KeyError, ValueError):
                    self.selector.unregister(end)
                end.close()


def redis_server_argv(port: int, directory: Path) -> list[str]:
    """A Redis of a test's own: its port, no persistence, its files in the test's directory."""
    redis = shutil.which("redis-server") or "/usr/bin/redis-server"
    return [
        redis,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]


def gunicorn_argv(port: int, workers: int = 2) -> list[str]:
    """The web server as the shipped unit runs it (sync workers), on a port of the test's own."""
    return [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        "60",
        "--graceful-timeout",
        "10",
    ]


# --- an S3-compatible store of a test's own ---------------------------------------------------


class S3Store:
    """moto's S3 in server mode (`moto_server`), a separate process on a free port, with one
    private bucket: the store that ATTACHMENT_STORAGE=s3 points the web nodes at. Started as one
    of `processes` (stopped with them); it keeps its objects in memory, so stopping it is the
    whole cleanup. `start()` returns at once; `create_bucket()` waits for it to answer."""

    BUCKET = "warehouse-evidence"
    PREFIX = "attachments"
    REGION = "us-east-1"
    # moto accepts any key pair; the app reads them the way boto3 always does.
    CREDENTIALS = {"AWS_ACCESS_KEY_ID": "drill-access-key", "AWS_SECRET_ACCESS_KEY": "drill-secret-key"}

    def __init__(self, processes: Processes, name: str = "s3"):
        self.processes, self.name = processes, name
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, processes: Processes, name: str = "s3") -> "S3Store":
        store = cls(processes, name)
        server = BIN / "moto_server"
        argv = [str(server)] if server.exists() else [PYTHON, "-m", "moto.server"]
        processes.start(name, [*argv, "-H", "127.0.0.1", "-p", str(store.port)])
        return store

    def environment(self) -> dict[str, str]:
        """The app's settings for this store (docs/configuration.md)."""
        return {
            "ATTACHMENT_STORAGE": "s3",
            "ATTACHMENT_S3_BUCKET": self.BUCKET,
            "ATTACHMENT_S3_ENDPOINT_URL": self.endpoint,
            "ATTACHMENT_S3_REGION": self.REGION,
            "ATTACHMENT_S3_PREFIX": self.PREFIX,
            **self.CREDENTIALS,
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.REGION,
            aws_access_key_id=self.CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, *, versioned: bool = False) -> None:
        wait_until(
            lambda: answers(f"{self.endpoint}/moto-api/data.json") or not self.processes.alive(self.name),
            timeout=60,
            what="the S3-compatible store (moto_server) ready",
            diagnostics=self.processes.logs,
        )
        assert self.processes.alive(self.name), self.processes.logs()
        client = self.client()
        client.create_bucket(Bucket=self.BUCKET, ACL="private")
        client.put_public_access_block(
            Bucket=self.BUCKET,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        if versioned:
            client.put_bucket_versioning(Bucket=self.BUCKET, VersioningConfiguration={"Status": "Enabled"})

    def objects(self) -> dict[str, bytes]:
        """Every object of the bucket, by key, with its bytes."""
        client = self.client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.BUCKET):
            for entry in page.get("Contents", []):
                found[entry["Key"]] = client.get_object(Bucket=self.BUCKET, Key=entry["Key"])["Body"].read()
        return found

    def empty(self) -> None:
        """Delete every object and every version of it (the bucket stays): a store that lost its
        data, which versioning alone would not bring back."""
        client = self.client()
        for page in client.get_paginator("list_object_versions").paginate(Bucket=self.BUCKET):
            for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                client.delete_object(Bucket=self.BUCKET, Key=entry["Key"], VersionId=entry["VersionId"])
