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
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
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

    def start(self, name: str, argv: list[str], *, env: dict | None = None) -> Started:
        log = self.workdir / f"{name}.log"
        process = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log.open("wb"),
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.started[name] = Started(name, process, log)
        return self.started[name]

    def kill(self, name: str) -> None:
        """kill -9 the whole process group, like a machine that loses power."""
        started = self.started[name]
        started.killed_at = time.monotonic()
        _signal_group(started.process, signal.SIGKILL)
        started.process.wait(timeout=10)

    def alive(self, name: str) -> bool:
        return self.started[name].process.poll() is None

    def stop_all(self, grace: float = 15) -> None:
        for started in self.started.values():
            _signal_group(started.process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for started in self.started.values():
            try:
                started.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            # Whatever is left of the group (a pool child, a straggler) ends now.
            _signal_group(started.process, signal.SIGKILL)
            try:
                started.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def logs(self) -> str:
        return "\n".join(started.tail() for started in self.started.values())


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the session leader's pid is the group id
    except (ProcessLookupError, PermissionError):
        pass


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


def run(argv: list[str], *, env: dict, timeout: float = 300) -> str:
    """Run a command to its end (migrate, seed_demo); its output is in the error if it fails."""
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


# --- PostgreSQL -----------------------------------------------------------------------------

def server_url() -> str:
    """The PostgreSQL server of DATABASE_URL when it names one, else the local one: these tests
    always run on PostgreSQL, whatever database the rest of the suite uses."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    return "postgres://postgres@127.0.0.1:5432/postgres"


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
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


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
        path = self.path.resolve()
        root = Path(tempfile.gettempdir()).resolve()
        if path.parent != root or not path.name.startswith(self.prefix) or path.is_symlink():
            raise RuntimeError(f"refusing to delete {path}: not a directory this test created")
        shutil.rmtree(path, ignore_errors=True)


# --- nginx in front of several web servers --------------------------------------------------

NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
{user}
events {{ worker_connections 512; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    upstream app {{
        # A dead server is left alone for a while after one failure instead of being retried.
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 1s;
            proxy_read_timeout 60s;
            # A request the dead server never received (connection refused, reset before it was
            # sent) goes to the next one. A POST that was sent is not repeated by nginx
            # (no `non_idempotent`): the client repeats it with its Idempotency-Key.
            proxy_next_upstream error timeout http_502 http_503 http_504;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
        }}
    }}
}}
"""


def nginx_config(directory: Path, *, port: int, upstreams: list[int]) -> Path:
    """An nginx configuration whose every file (pid, logs, temp) is inside `directory`."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / "tmp" / name).mkdir(parents=True, exist_ok=True)
    user = ""
    if os.geteuid() == 0:
        # nginx's workers drop root; they must be able to write their temp files.
        user = "user nobody nogroup;"
        directory.chmod(0o755)
        for path in (directory / "tmp", *(directory / "tmp").iterdir()):
            os.chown(path, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in upstreams)
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, user=user, servers=servers, port=port))
    return conf


def nginx_argv(directory: Path, conf: Path) -> list[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return [nginx, "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "error.log")]
