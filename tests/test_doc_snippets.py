"""Every shell snippet of the README and docs/ runs as written (README, "Documentation").

The blocks of one page run one after another in one bash (`set -euo pipefail`: an undefined
variable, a missing command or a failing step fails the page), against a server of the test's
own: gunicorn on a free port, SQLite in a temporary folder with the demo world, a short rest.
`BASE_URL` names that server, as a reader's shell names the one `make run` serves; the commands
run in a scratch folder that sees the repository's `manage.py`, `docs/` and `deploy/`, so files
they write (labels.pdf, sales.csv) stay out of the work tree. A block that cannot run here says
why on its first line: `# not run by the tests: <reason>`.
"""

import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.processes import PYTHON, OwnTempDir, Processes, answers, free_port, run, wait_until

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(sh|bash|shell|console)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NOT_RUN = "# not run by the tests:"
# What changes the machine itself (packages, users, system folders, services) must never run in
# a test: a block holding one of these without the marker fails the page before anything runs.
MACHINE_WIDE = re.compile(
    r"(^|[;&|(]\s*)(sudo|apt-get|apt|adduser|useradd|usermod|userdel|systemctl|journalctl|editor|"
    r"pg_createcluster|pg_dropcluster|git clone|crontab)\b|(^|\s)(/etc/|/opt/|/var/lib/|/srv/)",
    re.MULTILINE,
)

pytestmark = pytest.mark.docs_snippets

# What a page's run must have printed: the snippets did what the text says, not only exited 0.
EXPECTED = {
    "api.md": [
        '"status":"coded"',  # the walk: after the rest, storage and codes
        '"status":"released"',  # a code left the warehouse
        '"buyer_name":"李四"',  # the sale
        '"status":"recalled"',  # the recall, with its buyers
        '"buyers":[',
        '"status":"quarantined"',  # the positive result of the second batch
        '"state":"closed"',  # the incident closed
    ],
    "organisations.md": ["试运行（未写入）"],  # import_orgs --dry-run says it wrote nothing
}


def shell_blocks(page: Path) -> list[str]:
    return [match.group(2) for match in FENCE.finditer(page.read_text())]


def runnable(page: Path) -> list[str]:
    return [block for block in shell_blocks(page) if not block.startswith(NOT_RUN)]


def test_every_block_that_is_not_run_says_why():
    for page in PAGES:
        for block in shell_blocks(page):
            first = block.splitlines()[0] if block.strip() else ""
            if NOT_RUN in block:
                assert first.startswith(NOT_RUN), f"{page.name}: the marker must be the block's first line"
                assert len(first[len(NOT_RUN) :].strip()) >= 10, f"{page.name}: say why the block is not run: {first}"


def test_the_pages_have_snippets_to_run():
    """The collector finds the pages' blocks (a change of fence style cannot empty the check)."""
    assert len(runnable(ROOT / "docs" / "api.md")) >= 5
    assert runnable(ROOT / "README.md")


def test_no_block_that_changes_the_machine_runs_unmarked():
    """Installing packages, adding users, touching /etc or systemd: only behind the marker."""
    for page in PAGES:
        for block in runnable(page):
            found = MACHINE_WIDE.search(block)
            assert not found, f"{page.name}: mark this block `{NOT_RUN} <why>`: {found.group(0).strip()!r} in\n{block}"


def test_the_machine_wide_check_knows_such_commands():
    for line in ("apt-get install -y nginx", "sudo -u postgres createdb x", "cp a /etc/nginx/", "systemctl reload x"):
        assert MACHINE_WIDE.search(line), line
    for line in ('curl -s "$B/batches/"', "python manage.py import_orgs docs/examples/orgs.csv"):
        assert not MACHINE_WIDE.search(line), line


@pytest.fixture(scope="module")
def server():
    own = OwnTempDir("wh_snippets_")
    port = free_port()
    var = own.path / "var"
    var.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "CELERY_", "PYTEST_"))}
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=f"sqlite:///{var}/db.sqlite3",
        VAR_DIR=str(var),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        SECRET_KEY=secrets.token_hex(32),
        DEBUG="0",
        CELERY_TASK_ALWAYS_EAGER="1",
        REST_PERIOD_SECONDS="4",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    processes = Processes(own.path, env)
    try:
        run([PYTHON, "manage.py", "migrate", "--noinput"], env=env)
        run([PYTHON, "manage.py", "seed_demo", "--password", "demo12345"], env=env)
        processes.start(
            "web",
            [PYTHON, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--timeout", "60"],
        )
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: answers(f"{base}/healthz", 200) or answers(f"{base}/healthz", 503),
            timeout=60,
            what="the snippets' server",
            diagnostics=processes.logs,
        )
        yield base, env, own.path
    finally:
        processes.stop_all()
        own.remove()


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_page_s_snippets_run_as_written(server, page):
    for block in runnable(page):
        assert not MACHINE_WIDE.search(block), f"{page.name}: a block changes the machine; mark it {NOT_RUN}"
    base, env, scratch = server
    folder = scratch / page.stem
    folder.mkdir()
    for name in ("manage.py", "docs", "deploy", "scripts"):
        (folder / name).symlink_to(ROOT / name)
    script = "set -euo pipefail\n" + "\n".join(runnable(page))
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=folder,
        env={
            **env,
            "BASE_URL": base,
            "PATH": f"{Path(PYTHON).parent}:{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{page.name}: a snippet failed (exit {done.returncode}):\n{output[-4000:]}"
    assert "command not found" not in output and "unbound variable" not in output, output[-4000:]
    # Each answer the snippets printed is the API's, not an error page of the server.
    assert "Server Error" not in output and '"code":"server_error"' not in output, output[-4000:]
    for expected in EXPECTED.get(page.name, []):
        assert expected in output, f"{page.name}: {expected!r} not printed:\n{output[-4000:]}"
