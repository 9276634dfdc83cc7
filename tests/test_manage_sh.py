"""deploy/manage.sh as an administrator runs it (docs/deploy.md): as root, with an environment
file. A relative path works from the directory the administrator is in; a file the service user
cannot read is named as such, never a traceback.

The service user: `nobody` for the permission check (the test machine has no `warehouse` user);
the commands that start Python run as root itself (WAREHOUSE_USER=root), because this machine's
virtualenv interpreter lives under /root, where no other user may execute it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .processes import OwnTempDir

ROOT = Path(__file__).resolve().parent.parent
MANAGE_SH = ROOT / "deploy" / "manage.sh"


@pytest.fixture
def tmp_path():
    """A directory the service user may enter (pytest's own are root's only)."""
    own = OwnTempDir("wh_manage_sh_")
    own.path.chmod(0o755)
    try:
        yield own.path
    finally:
        own.remove()


@pytest.fixture
def installation(tmp_path):
    assert os.geteuid() == 0, "deploy/manage.sh switches to the service user: the test runs as root"
    var = tmp_path / "var"
    var.mkdir(mode=0o777)
    var.chmod(0o777)
    env_file = tmp_path / "warehouse.env"
    env_file.write_text(f"VAR_DIR={var}\nDATABASE_URL=sqlite:///{var}/db.sqlite3\nSECRET_KEY=manage-sh-test\n")
    env_file.chmod(0o644)
    return {
        "PATH": os.environ["PATH"],
        "WAREHOUSE_ENV": str(env_file),
        "WAREHOUSE_VENV": str(Path(sys.executable).parent.parent),
    }


def manage_sh(env: dict, *args: str, cwd: Path, user: str = "root") -> subprocess.CompletedProcess:
    env = {**env, "WAREHOUSE_USER": user}
    return subprocess.run(
        [str(MANAGE_SH), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_relative_path_is_read_from_where_the_administrator_is(installation, tmp_path):
    here = tmp_path / "admin"
    here.mkdir(mode=0o755)
    # A header the import refuses: the answer shows the command found and read this very file.
    (here / "orgs.csv").write_text("kind,code,name,colour\n")
    (here / "orgs.csv").chmod(0o644)

    done = manage_sh(installation, "import_orgs", "--dry-run", "orgs.csv", cwd=here)

    assert done.returncode != 0
    assert "colour" in done.stderr and "找不到文件" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

    missing = manage_sh(installation, "import_orgs", "--dry-run", "nothere.csv", cwd=here)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert f"找不到文件：nothere.csv（相对路径，按当前目录 {here} 查找的是 {here / 'nothere.csv'}）" in missing.stderr


def test_a_file_the_service_user_cannot_read_is_named_before_anything_runs(installation, tmp_path):
    private = tmp_path / "root-only"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    (private / "orgs.csv").write_text("kind,code,name\n")

    done = manage_sh(installation, "import_orgs", "orgs.csv", cwd=private, user="nobody")

    assert done.returncode == 2, done.stderr
    assert f"user nobody cannot read {private / 'orgs.csv'}" in done.stderr
    assert "install -m 644" in done.stderr and "Traceback" not in done.stderr


def test_manage_sh_runs_commands_with_the_environment_file(installation, tmp_path):
    done = manage_sh(installation, "shell", "-c", "import os; print(os.environ['VAR_DIR'])", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(tmp_path / "var")
