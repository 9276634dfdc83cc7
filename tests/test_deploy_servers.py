"""The production recipe's servers, run as shipped (docs/deploy.md): Debian's redis-server with
deploy/redis/warehouse.conf included the way the recipe says, and the app reaching it with the
password; the backup script, its restore script and the restore drill (back up → wipe → restore
→ every photo answers, the event log is the same).

Each server is the machine's own program on a port of its own (18140–18149), stopped at the end."""

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from .processes import ROOT, OwnTempDir, assert_ports_free, wait_until

pytestmark = pytest.mark.multinode

DEPLOY = ROOT / "deploy"
REDIS_PORT = 18140


def render_redis_include(folder: Path, password: str) -> Path:
    """deploy/redis/warehouse.conf with its password set, by the line docs/deploy.md gives."""
    include = folder / "warehouse.conf"
    shutil.copy(DEPLOY / "redis" / "warehouse.conf", include)
    subprocess.run(["sed", "-i", f"s/^requirepass .*/requirepass {password}/", str(include)], check=True)
    return include


@pytest.fixture
def shipped_redis():
    """Debian's redis-server with Debian's /etc/redis/redis.conf plus the recipe's include line;
    only what needs root (port, daemon, pid, log, data directory) comes from the command line."""
    assert shutil.which("redis-server"), "install redis-server (make system-test)"
    assert_ports_free(REDIS_PORT)
    own = OwnTempDir("wh_redis_")
    password = secrets.token_hex(32)
    main = own.path / "redis.conf"
    main.write_text(Path("/etc/redis/redis.conf").read_text())
    with main.open("a") as conf:
        conf.write(f"\ninclude {render_redis_include(own.path, password)}\n")
    process = subprocess.Popen(
        [
            "redis-server",
            str(main),
            "--port",
            str(REDIS_PORT),
            "--daemonize",
            "no",
            "--supervised",
            "no",
            "--pidfile",
            str(own.path / "redis.pid"),
            "--logfile",
            str(own.path / "redis.log"),
            "--dir",
            str(own.path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def log() -> str:
        path = own.path / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    try:
        wait_until(
            lambda: process.poll() is not None or " Ready to accept connections" in log(),
            timeout=20,
            what="redis-server ready",
            diagnostics=log,
        )
        assert process.poll() is None, (process.stdout.read().decode(errors="replace"), log())
        yield password
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        own.remove()


def test_redis_starts_with_the_shipped_include_and_asks_for_the_password(shipped_redis):
    password = shipped_redis
    anonymous = redis.Redis(port=REDIS_PORT, socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()

    client = redis.Redis(port=REDIS_PORT, password=password, socket_timeout=5)
    assert client.ping()
    config = client.config_get("*")
    assert config["maxmemory-policy"] == "noeviction"
    assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
    assert int(config["maxmemory"]) == 512 * 1024 * 1024
    assert config["bind"] == "127.0.0.1 -::1"


def test_the_app_uses_the_shipped_redis_with_the_password_in_redis_url(shipped_redis, tmp_path):
    """The cache and the Celery broker of the app, as REDIS_URL in the environment template
    says (`redis://:PASSWORD@host:6379/0`), against that Redis; without the password, refused."""
    probe = (
        "import django; django.setup()\n"
        "from django.core.cache import cache\n"
        "from config.celery import app\n"
        "cache.set('deploy-probe', 'ok', 30)\n"
        "assert cache.get('deploy-probe') == 'ok'\n"
        "with app.connection_for_write() as conn:\n"
        "    conn.ensure_connection(max_retries=1)\n"
        "    conn.default_channel.client.lpush('deploy-probe-queue', 'x')\n"
        "print('reached')\n"
    )
    template = (DEPLOY / "warehouse.env.example").read_text()
    line = re.search(r"^REDIS_URL=redis://:(.+)@redis\.internal:6379/0$", template, re.M)
    assert line, "the template's REDIS_URL carries a password"

    def run(url: str) -> subprocess.CompletedProcess:
        env = {
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "VAR_DIR": str(tmp_path / "var"),
            "REDIS_URL": url,
        }
        return subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    good = run(f"redis://:{shipped_redis}@127.0.0.1:{REDIS_PORT}/0")
    assert good.returncode == 0 and "reached" in good.stdout, good.stderr
    assert redis.Redis(port=REDIS_PORT, password=shipped_redis).llen("deploy-probe-queue") == 1

    refused = run(f"redis://127.0.0.1:{REDIS_PORT}/0")
    assert refused.returncode != 0 and "reached" not in refused.stdout
    assert "Authentication required" in refused.stderr or "NOAUTH" in refused.stderr, refused.stderr
