"""An upgrade from the previous release to this code, and back, by the steps of docs/deploy.md
("Upgrades", "Rolling back"), while a client keeps scanning.

The previous release is the newest one CHANGELOG.md names with a commit. Its files (git archive
of that commit) are installed in a directory of the test's own, with a database of its own
(`h_ops_upgrade_<random>`), migrated, given the demo world and a few batches through its own
API: one sold in part, one resting, one declared. Its gunicorn (the shipped unit's sync workers)
and an outbox relay run from that directory. A client then keeps scanning (the public page of
the codes and a batch's detail, GETs) while the installation is upgraded in place: a backup with
pg_dump, this checkout's files in place of the old ones (what `git checkout` does), `migrate`
and `collectstatic` with the new code while the old one still serves, `check --deploy`, the
relay restarted and gunicorn reloaded (SIGHUP, the unit's `systemctl reload`). Nothing may be
lost: every table has the rows it had (tables that only list migrations, models and permissions
may gain some), every event is as it was, and no scan failed. Then the same by the rollback
steps: the new release's migrations undone, the old files back, reloaded.

The old code runs in the same virtual environment as the new: every pin of the previous release
must still be a pin of this one (asserted; a new release may add packages the old code never
imports, but one that changes an old pin makes this test say so instead of passing on the
wrong packages).
"""

import os
import secrets
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

from config.version import VERSION
from tests.conftest import Flow

from .changelog import previous_release
from .processes import (
    PYTHON,
    ROOT,
    HttpApi,
    OwnTempDir,
    Processes,
    answers,
    assert_ports_free,
    gunicorn_argv,
    redis_forget_queue,
    redis_url,
    run,
    scratch_database,
    wait_until,
)

pytestmark = pytest.mark.upgrade

WEB_PORT = 18210
PASSWORD = "upgrade-pass-123"
REST_SECONDS = 3
# Tables whose rows list what the code has (migrations applied, models, permissions): a new
# release may add rows to them; no other table may gain or lose one.
SCHEMA_TABLES = {"django_migrations", "django_content_type", "auth_permission"}
OUR_APPS = {"batches": "batches", "markets": "markets", "warehouse": "warehouse", "config/reliability": "reliability"}


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def pins(requirements: str) -> set[str]:
    """The `package==version` lines of a requirements file."""
    lines = (line.split("#")[0].strip() for line in requirements.splitlines())
    return {line.lower() for line in lines if line and not line.startswith("-")}


def release_files(commit: str) -> set[str]:
    return set(git("ls-tree", "-r", "--name-only", commit).splitlines())


def checkout_files() -> set[str]:
    """The files of this checkout as it is (tracked and new, not ignored): the code under test."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    return {name for name in listed if name and (ROOT / name).is_file()}


def install_release(commit: str, app: Path) -> None:
    app.mkdir(exist_ok=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=False)
    assert archive.returncode == 0, (
        f"release commit {commit} is not in this clone's history (a shallow clone? `git fetch --unshallow`): "
        f"{archive.stderr.decode()}"
    )
    subprocess.run(["tar", "-x", "-C", str(app)], input=archive.stdout, check=True)


def replace_files(app: Path, *, remove: set[str], files: set[str], source) -> None:
    """What a `git checkout` does to the installation: files of the old release that the new
    one does not have go, the new release's files are written in place."""
    for name in remove - files:
        (app / name).unlink(missing_ok=True)
    for name in sorted(files):
        target = app / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source(name))


def latest_migrations(files: set[str]) -> dict[str, str]:
    """Per app label of ours, the newest migration among a release's files."""
    latest = {}
    for folder, label in OUR_APPS.items():
        names = sorted(
            Path(name).stem
            for name in files
            if name.startswith(f"{folder}/migrations/0")
            and name.endswith(".py")
            and name.count("/") == folder.count("/") + 2
        )
        latest[label] = names[-1]
    return latest


@dataclass
class Scanner:
    """A client that keeps scanning: the public page of each code and a batch's detail, in turn."""

    base: str
    tokens: list[str]
    detail: tuple[str, str]  # (path, API token)
    answers: list[tuple[float, str, int | str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        path, token = self.detail
        while not self.stop.is_set():
            for target, headers in [(f"/c/{t}", {}) for t in self.tokens] + [
                (path, {"Authorization": f"Token {token}"})
            ]:
                try:
                    status = session.get(self.base + target, headers=headers, timeout=30).status_code
                except requests.RequestException as exc:
                    status = type(exc).__name__
                self.answers.append((time.monotonic(), target, status))
            time.sleep(0.05)

    def failures(self) -> list:
        return [answer for answer in self.answers if answer[2] != 200]


def table_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        tables = [row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in sorted(tables)}


def events(database_url: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT * FROM batches_event ORDER BY id").fetchall()


def assert_nothing_lost(before: dict[str, int], after: dict[str, int], *, may_go: frozenset = frozenset()) -> None:
    """Every table of `before` is there with its rows, but those in `may_go` (on a rollback: the
    new release's own tables, which the previous release does not know, if they are empty)."""
    missing = sorted(set(before) - set(after) - may_go)
    assert not missing, f"tables gone: {missing}"
    changed = {t: (before[t], after[t]) for t in before if t not in SCHEMA_TABLES | may_go and before[t] != after[t]}
    assert not changed, f"row counts changed (before, after): {changed}"
    shrunk = {t: (before[t], after[t]) for t in (SCHEMA_TABLES & set(before)) - may_go if after[t] < before[t]}
    assert not shrunk, shrunk


def served_version() -> str | None:
    try:
        return requests.get(f"http://127.0.0.1:{WEB_PORT}/healthz", timeout=10).json().get("version")
    except (requests.RequestException, ValueError):
        return "unanswered"


def reload_web(processes: Processes, want: str | None) -> None:
    """`systemctl reload warehouse-web`: SIGHUP to gunicorn's master, which starts new workers
    (they import the code on disk) and retires the old ones; wait until the new code answers."""
    os.kill(processes.started["web"].process.pid, signal.SIGHUP)
    wait_until(
        lambda: served_version() == want,
        timeout=120,
        what=f"gunicorn serving version {want}",
        diagnostics=processes.logs,
    )


def test_upgrade_from_the_previous_release_and_back_loses_nothing_while_scanning():
    previous = previous_release()
    assert previous.version != VERSION
    own = OwnTempDir("h_ops_upgrade_")
    app, backup = own.path / "app", own.path / "backup"
    queue = f"h_ops_upgrade_{secrets.token_hex(3)}"
    assert_ports_free(WEB_PORT)
    old_files, new_files = release_files(previous.commit), checkout_files()
    old_pins = pins(git("show", f"{previous.commit}:requirements.txt"))
    changed = old_pins - pins((ROOT / "requirements.txt").read_text())
    assert not changed, (
        f"the previous release pinned {sorted(changed)}, which this environment does not have: "
        "install its requirements into a virtual environment of the test's own"
    )
    try:
        with scratch_database("h_ops_upgrade") as database_url:
            var = own.path / "var"
            var.mkdir()
            backup.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CELERY_", "PYTEST_"))}
            env.update(
                DATABASE_URL=database_url,
                REDIS_URL=redis_url(),
                CELERY_QUEUE=queue,
                SECRET_KEY=secrets.token_hex(32),
                DEBUG="0",
                ALLOWED_HOSTS="127.0.0.1,localhost",
                PUBLIC_BASE_URL=f"http://127.0.0.1:{WEB_PORT}",
                VAR_DIR=str(var),
                REST_PERIOD_SECONDS=str(REST_SECONDS),
                REST_SWEEP_SECONDS="3600",  # no beat here: /healthz stays in its start-up grace
                PUBLIC_VERIFY_RATE="100000/min",  # one client scans all along, from one address
                PYTHONUNBUFFERED="1",
                DJANGO_SETTINGS_MODULE="config.settings",
                LOG_LEVEL="WARNING",
            )
            processes = Processes(own.path, env)
            scanner = None
            try:
                # --- the previous release, installed and used ------------------------------------
                install_release(previous.commit, app)
                run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=app)
                run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], env=env, cwd=app)
                run([PYTHON, "manage.py", "seed_demo", "--password", PASSWORD], env=env, cwd=app)
                processes.start("web", gunicorn_argv(WEB_PORT), cwd=app)
                processes.start("relay", [PYTHON, "manage.py", "outbox_relay"], cwd=app)
                wait_until(
                    lambda: answers(f"http://127.0.0.1:{WEB_PORT}/healthz"),
                    timeout=60,
                    what="the previous release answering",
                    diagnostics=processes.logs,
                )
                assert served_version() is None  # 1.0.0 had no version to show
                api = HttpApi(f"http://127.0.0.1:{WEB_PORT}", PASSWORD)
                sold, resting, declared = Flow(api), Flow(api), Flow(api)
                sold.resting()
                sold.sample()
                sold.result("negative")
                resting.resting()
                declared.declare()
                time.sleep(REST_SECONDS + 0.5)
                sold.post(sold.operator, "move-to-storage")
                sold.post(sold.operator, "issue-codes")
                sold.post(sold.operator, "release", {"all": True})
                codes = api(sold.operator).get(f"/api/batches/{sold.number}/codes/").json()["results"]
                tokens = [code["token"] for code in codes[:3]]
                sale = api(sold.merchant).post(
                    "/api/sales/",
                    {
                        "codes": tokens[:2],
                        "buyer_name": "王小姐",
                        "buyer_phone": "13912345678",
                        "buyer_kind": "consumer",
                    },
                )
                assert sale.status_code == 201, sale.text[:300]
                operator_token = api(resting.operator).http.headers["Authorization"].removeprefix("Token ")
                wait_until(lambda: outbox_settled(database_url), timeout=60, what="the relay handing tasks over")
                before, chain = table_counts(database_url), events(database_url)
                assert before["batches_event"] > 20 and before["markets_sale"] == 1

                scanner = Scanner(
                    f"http://127.0.0.1:{WEB_PORT}", tokens, (f"/api/batches/{resting.number}/", operator_token)
                )
                thread = threading.Thread(target=scanner.run, daemon=True)
                thread.start()
                time.sleep(1)

                # --- the upgrade, by the steps of docs/deploy.md ---------------------------------
                dump = backup / "warehouse-before-upgrade.dump"
                subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", database_url], check=True)
                assert dump.stat().st_size > 0
                replace_files(app, remove=old_files, files=new_files, source=lambda name: (ROOT / name).read_bytes())
                assert run([PYTHON, "manage.py", "version"], env=env, cwd=app).strip() == VERSION
                run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=app)
                run([PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"], env=env, cwd=app)
                run([PYTHON, "manage.py", "check", "--deploy"], env=env, cwd=app)
                processes.stop("relay")
                processes.start("relay", [PYTHON, "manage.py", "outbox_relay"], cwd=app)
                reload_web(processes, VERSION)
                upgraded_at = time.monotonic()
                time.sleep(2)  # scanning on the new code a while

                assert_nothing_lost(before, table_counts(database_url))
                assert events(database_url) == chain
                assert not scanner.failures(), scanner.failures()[:10]
                assert any(at > upgraded_at for at, *_ in scanner.answers)
                # the new code works on the old data
                fresh = Flow(api)
                fresh.declare()
                assert resting.detail(resting.operator)["status"] in ("resting", "rest_complete")
                after_upgrade, chain = table_counts(database_url), events(database_url)

                # --- the rollback, by the steps of docs/deploy.md --------------------------------
                # The old code first: it reads the newer tables as it read its own (the new code
                # could not read the old ones: a column it knows would be gone). Then the new
                # release's migrations are undone from a copy of the new release (here: ROOT).
                replace_files(
                    app, remove=new_files, files=old_files, source=lambda name: git_show(previous.commit, name)
                )
                processes.stop("relay")
                processes.start("relay", [PYTHON, "manage.py", "outbox_relay"], cwd=app)
                reload_web(processes, None)
                for label, name in latest_migrations(old_files).items():
                    run([PYTHON, "manage.py", "migrate", label, name, "--noinput", "-v0"], env=env, cwd=ROOT)
                time.sleep(2)

                # the new release's tables go with its migrations; none held anything yet
                new_tables = frozenset(name for name, rows in after_upgrade.items() if name not in before and rows == 0)
                rolled_back = table_counts(database_url)
                assert_nothing_lost(after_upgrade, rolled_back, may_go=new_tables | {"django_migrations"})
                # and the migrations recorded are the previous release's again, exactly
                assert rolled_back["django_migrations"] == before["django_migrations"]
                assert events(database_url) == chain
                assert not scanner.failures(), scanner.failures()[:10]
                assert Flow(api).declare()["number"]
                statuses = Counter(status for *_, status in scanner.answers)
                print(f"\nupgrade {previous.version} → {VERSION} and back: {len(scanner.answers)} scans, {statuses}")
            finally:
                if scanner is not None:
                    scanner.stop.set()
                processes.stop_all()
    finally:
        try:
            redis_forget_queue(redis_url(), queue)
        finally:
            own.remove()


def git_show(commit: str, name: str) -> bytes:
    return subprocess.run(["git", "show", f"{commit}:{name}"], cwd=ROOT, capture_output=True, check=True).stdout


def outbox_settled(database_url: str) -> bool:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM reliability_outboxmessage WHERE state = 'pending'").fetchone()[0] == 0
