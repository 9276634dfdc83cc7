"""The production recipe's servers, run as shipped (docs/deploy.md): Debian's redis-server with
deploy/redis/warehouse.conf included the way the recipe says, and the app reaching it with the
password; the backup script, its restore script and the restore drill (back up → wipe → restore
→ every photo answers, the event log is the same), with the photos on the machine's disk and in
an S3-compatible store (moto's S3 in server mode, a process of the test's own).

Each server is the machine's own program on a port of its own (18140–18149), stopped at the end."""

import hashlib
import io
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis
from PIL import Image

from .processes import (
    PYTHON,
    ROOT,
    OwnTempDir,
    Processes,
    S3Store,
    answers,
    assert_ports_free,
    redis_url,
    run,
    scratch_database,
    unit_command,
    wait_until,
)
from .test_multinode import PEOPLE, Record, declare_to_resting, sign_in, template

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


# --- backup, wipe, restore -------------------------------------------------------------------

WEB_PORT = 18141
BACKUP_PASSWORD = "drill-pass-123"


def env_file_text(env: dict) -> str:
    return "".join(f"{name}={value}\n" for name, value in env.items())


@pytest.fixture
def installation(request):
    """One machine as docs/deploy.md sets it up, in a directory of its own: the environment
    template filled in (with the backup's settings) as an environment file, a database of its
    own with the demo world, the web server started with the shipped unit's command. The photos
    on its disk, or (parameter "s3") in a bucket of an S3-compatible store of its own."""
    own = OwnTempDir("wh_backup_")
    store_processes = Processes(own.path, {"PATH": os.environ["PATH"]})
    store = S3Store.start(store_processes) if getattr(request, "param", "filesystem") == "s3" else None
    try:
        with scratch_database("bk") as database_url:
            env = template()
            env.update(
                PUBLIC_BASE_URL=f"http://127.0.0.1:{WEB_PORT}",
                ALLOWED_HOSTS="127.0.0.1",
                SECRET_KEY=secrets.token_urlsafe(50),
                DATABASE_URL=database_url,
                REDIS_URL=redis_url(),
                VAR_DIR=str(own.path / "var"),
                EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
                WEB_WORKERS="2",
                LOG_LEVEL="WARNING",
                BACKUP_DIR=str(own.path / "backups"),
                BACKUP_KEY_FILE=str(own.path / "backup.key"),
                BACKUP_KEEP="2",
                BACKUP_OFFSITE=f"{own.path / 'offsite'}/",
                **(store.environment() if store else {}),
            )
            (own.path / "offsite").mkdir()
            # The key as docs/deploy.md makes it.
            key = subprocess.run(["openssl", "rand", "-base64", "48"], capture_output=True, text=True, check=True)
            (own.path / "backup.key").write_text(key.stdout)
            env_path = own.path / "warehouse.env"
            env_path.write_text(env_file_text(env))
            process_env = {"PATH": os.environ["PATH"], **env}
            run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=process_env)
            run([PYTHON, "manage.py", "seed_demo", "--password", BACKUP_PASSWORD], env=process_env)
            if store:
                store.create_bucket(versioned=True)
            processes = Processes(own.path, process_env)
            try:
                yield Installation(own.path, env, env_path, processes, store)
            finally:
                processes.stop_all()
    finally:
        store_processes.stop_all()
        own.remove()


class Installation:
    def __init__(self, path: Path, env: dict, env_path: Path, processes: Processes, store: S3Store | None):
        self.path, self.env, self.env_path, self.processes = path, env, env_path, processes
        self.store = store
        self.base = f"http://127.0.0.1:{WEB_PORT}"

    def start_web(self) -> None:
        assert_ports_free(WEB_PORT)
        (self.path / "prometheus").mkdir(exist_ok=True)
        argv, env = unit_command(
            "warehouse-web.service",
            machine="drill",
            env={"PATH": os.environ["PATH"], **self.env},
            paths={
                "/opt/warehouse/.venv/bin": str(Path(PYTHON).parent),
                "/opt/warehouse": str(ROOT),
                "/run/warehouse-prometheus": str(self.path / "prometheus"),
                "127.0.0.1:8000": f"127.0.0.1:{WEB_PORT}",
            },
        )
        self.processes.start("web", argv, env=env)
        wait_until(
            lambda: answers(f"{self.base}/healthz") or not self.processes.alive("web"),
            timeout=90,
            what="web ready",
            diagnostics=self.processes.logs,
        )
        assert self.processes.alive("web"), self.processes.logs()

    def stop_web(self) -> None:
        self.processes.stop_all()
        self.processes.started.clear()

    def script(self, name: str, *args: str) -> subprocess.CompletedProcess:
        """A shipped script of deploy/ as the backup unit runs it: only the environment file (and
        this machine's virtualenv, which the installation has in the checkout)."""
        return subprocess.run(
            [str(DEPLOY / name), *args],
            env={
                "PATH": os.environ["PATH"],
                "WAREHOUSE_ENV": str(self.env_path),
                "WAREHOUSE_VENV": str(Path(PYTHON).parent.parent),
            },
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def sql(self, query: str, params=()) -> list[tuple]:
        with psycopg.connect(self.env["DATABASE_URL"]) as conn:
            return conn.execute(query, params).fetchall()

    def state(self) -> dict:
        """What must come back: every table's row count, the event log in order, the photos."""
        tables = [row[0] for row in self.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {
            "counts": {table: self.sql(f'SELECT count(*) FROM "{table}"')[0][0] for table in sorted(tables)},
            "events": self.sql(
                "SELECT id, batch_id, action, status_before, status_after, at, details::text "
                "FROM batches_event ORDER BY id"
            ),
            "attachments": self.sql("SELECT id, batch_id, sha256, file, thumbnail FROM batches_attachment ORDER BY id"),
        }


def photo(seed: int) -> bytes:
    image = Image.frombytes("RGB", (640, 480), random.Random(seed).randbytes(640 * 480 * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


@pytest.mark.parametrize("installation", ["filesystem", "s3"], indirect=True)
def test_restore_drill_backup_wipe_restore_brings_back_every_photo_and_the_event_log(installation):
    """On one machine the photos are on its disk; with several web nodes they are in the bucket
    (ATTACHMENT_STORAGE=s3), and the backup copies the bucket's objects into the same archive:
    the drill loses the bucket's objects too, and the restore puts them back."""
    inst = installation
    inst.start_web()
    record = Record()
    clients = sign_in(inst.base, record, password=BACKUP_PASSWORD)
    # Three batches to resting, each with photos of arrival, disinfection and sampling.
    uploaded = []
    for index in range(3):
        batch = declare_to_resting(clients, index)
        operator = clients[PEOPLE[index % len(PEOPLE)][3]]
        for n, kind in enumerate(("arrival", "disinfection", "sample")):
            answer = operator.session.post(
                f"{inst.base}/api/batches/{batch['number']}/attachments/",
                files={"file": (f"IMG_{index}{n}.jpg", photo(index * 10 + n), "image/jpeg")},
                data={"kind": kind},
                timeout=60,
            )
            assert answer.status_code == 201, answer.text[:400]
            uploaded.append((operator, answer.json()))
    label_sheet = Path(inst.env["VAR_DIR"]) / "media" / "labels" / "sheet-1.pdf"
    label_sheet.parent.mkdir(parents=True, exist_ok=True)
    label_sheet.write_bytes(b"%PDF-1.4 a label sheet\n")
    before = inst.state()
    assert len(before["attachments"]) == 9 and len(before["events"]) > 9
    attachments = Path(inst.env["VAR_DIR"]) / "attachments"
    if inst.store:
        # Nine photos and their thumbnails in the bucket, none on the disk.
        in_bucket = inst.store.objects()
        assert len(in_bucket) == 18 and all(key.startswith(f"{S3Store.PREFIX}/") for key in in_bucket)
        assert not attachments.exists()

    # Three nightly backups; two are kept here (BACKUP_KEEP=2), each one was copied off-site.
    names = []
    for _ in range(3):
        done = inst.script("backup.sh")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "9 photo files" not in done.stdout  # photos and thumbnails: 18 files
        assert "18 photo files, 1 label files" in done.stdout, done.stdout
        names.append(re.search(r"(warehouse-\w+\.tar\.gpg)", done.stdout).group(1))
        time.sleep(1.1)  # the names are by the second
    kept = sorted(path.name for path in (inst.path / "backups").glob("warehouse-*.tar.gpg"))
    assert kept == sorted(names[1:])
    assert sorted(path.name for path in (inst.path / "offsite").iterdir()) == sorted(names)
    newest = inst.path / "backups" / names[-1]
    # Encrypted: neither the dump nor a photo nor a name is readable in it.
    data = newest.read_bytes()
    assert b"PGDMP" not in data and b"JFIF" not in data and b"merchant-a1" not in data

    # The wipe: services stopped, database dropped and created empty, the files deleted.
    inst.stop_web()
    database = inst.env["DATABASE_URL"].rsplit("/", 1)[1]
    admin = inst.env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    if inst.store:
        inst.store.empty()  # the bucket's objects lost, every version with them
        assert inst.store.objects() == {}
    else:
        shutil.rmtree(attachments)
    shutil.rmtree(Path(inst.env["VAR_DIR"]) / "media")

    done = inst.script("restore.sh", str(newest))
    assert done.returncode == 0, done.stdout + done.stderr
    # A second restore over the restored database is refused, and changes nothing.
    again = inst.script("restore.sh", str(newest))
    assert again.returncode != 0 and "restore into an empty database" in again.stderr, again.stderr

    after = inst.state()
    assert after["counts"] == before["counts"]
    assert after["events"] == before["events"]
    assert after["attachments"] == before["attachments"]
    assert label_sheet.read_bytes() == b"%PDF-1.4 a label sheet\n"
    if inst.store:
        assert inst.store.objects() == in_bucket  # the same keys with the same bytes
        assert not attachments.exists()

    # Every photo answers 200 with its own bytes, and its thumbnail too (the tokens are restored).
    inst.start_web()
    for operator, stored in uploaded:
        answer = operator.session.get(inst.base + stored["url"], timeout=30)
        assert answer.status_code == 200, (stored["url"], answer.status_code)
        assert hashlib.sha256(answer.content).hexdigest() == stored["sha256"]
        assert operator.session.get(inst.base + stored["thumbnail_url"], timeout=30).status_code == 200


def test_a_backup_that_cannot_run_fails_and_the_failure_unit_alerts(installation):
    inst = installation
    # No key: the backup refuses (an unencrypted backup is not an option) and writes nothing.
    (inst.path / "backup.key").unlink()
    done = inst.script("backup.sh")
    assert done.returncode != 0 and "backup.key is missing" in done.stderr, done.stderr
    assert not list((inst.path / "backups").glob("warehouse-*"))

    # warehouse-backup.service names the alert unit; the alert unit's command logs and mails.
    backup_unit = (DEPLOY / "systemd" / "warehouse-backup.service").read_text()
    assert "\nOnFailure=warehouse-backup-failed.service\n" in backup_unit
    argv, env = unit_command(
        "warehouse-backup-failed.service",
        machine="drill",
        env={"PATH": os.environ["PATH"], **inst.env, "OPS_ALERT_EMAILS": "ops@example.cn"},
        paths={"/opt/warehouse/.venv/bin": str(Path(PYTHON).parent), "/opt/warehouse": str(ROOT)},
    )
    alert = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert alert.returncode == 0, alert.stdout + alert.stderr
    assert "ALERT 备份失败 backup failed: warehouse-backup.service failed on drill" in alert.stderr
    assert "To: ops@example.cn" in alert.stdout and "Alert mailed to ops@example.cn" in alert.stdout
