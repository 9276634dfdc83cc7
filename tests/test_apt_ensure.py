"""scripts/apt-ensure.sh (used by `make run` / `make test` to install Debian packages) waits while
another package manager holds apt's locks instead of failing at once (README, "The two commands").

The real apt-get and dpkg-query are stood in for by small scripts first on PATH: the test must
not install anything or hold the machine's package locks."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKED = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)"


def fake_tools(tmp_path: Path, *, busy_calls: int, error: str = LOCKED) -> Path:
    """`apt-get` answers `error` (exit 100) to its first `busy_calls` calls, then succeeds; every call
    is logged. `dpkg-query` says no package is installed; `sudo` runs its command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text(f"""#!/bin/sh
echo "$*" >> "{tmp_path}/calls"
n=$(wc -l < "{tmp_path}/calls")
if [ "$n" -le {busy_calls} ]; then echo "{error}" >&2; exit 100; fi
""")
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir


def apt_ensure(tmp_path, bin_dir, **env):
    return subprocess.run(
        ["scripts/apt-ensure.sh", "nginx", "wrk"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env},
    )


def calls(tmp_path) -> list[str]:
    return (tmp_path / "calls").read_text().splitlines()


def test_it_waits_for_a_held_lock_then_installs(tmp_path):
    bin_dir = fake_tools(tmp_path, busy_calls=2)  # `apt-get update` finds the lists locked twice

    result = apt_ensure(tmp_path, bin_dir)

    assert result.returncode == 0, result.stderr
    assert "waiting" in result.stderr
    made = calls(tmp_path)
    assert [call.split()[-2:] for call in made[:3]] == [["update", "-qq"]] * 3
    assert made[3].startswith("-o DPkg::Lock::Timeout=600 install")  # dpkg's own lock: apt waits itself
    assert made[3].endswith("nginx wrk")


def test_another_error_fails_at_once_with_apt_gets_message(tmp_path):
    bin_dir = fake_tools(tmp_path, busy_calls=99, error="E: Unable to locate package wrk")

    result = apt_ensure(tmp_path, bin_dir)

    assert result.returncode == 100
    assert "Unable to locate package wrk" in result.stderr
    assert len(calls(tmp_path)) == 1


def test_it_gives_up_when_the_lock_is_held_past_the_timeout(tmp_path):
    bin_dir = fake_tools(tmp_path, busy_calls=99)

    result = apt_ensure(tmp_path, bin_dir, APT_LOCK_TIMEOUT="0")

    assert result.returncode == 100
    assert "Could not get lock" in result.stderr
    assert len(calls(tmp_path)) == 1


def optional(tmp_path, path, *packages):
    return subprocess.run(
        ["scripts/apt-ensure.sh", "--optional", "labels use the built-in font", *packages],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PATH": path},
    )


def test_make_run_goes_on_without_apt_saying_what_is_missing(tmp_path):
    """`make run` on a machine without Debian's apt: one line says what is missing and what it
    costs, and the run goes on."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "grep"):  # a PATH with the shell's tools but no apt
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())

    result = optional(tmp_path, str(bin_dir), "fonts-wqy-microhei")

    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "not installed: fonts-wqy-microhei (no apt on this machine) — labels use the built-in font"
    ]


def test_an_optional_install_that_fails_is_said_and_the_run_goes_on(tmp_path):
    bin_dir = fake_tools(tmp_path, busy_calls=99, error="E: Unable to locate package fonts-wqy-microhei")

    result = optional(tmp_path, f"{bin_dir}:{os.environ['PATH']}", "fonts-wqy-microhei")

    assert result.returncode == 0, result.stderr
    assert "not installed: fonts-wqy-microhei (apt-get failed) — labels use the built-in font" in result.stderr


def test_a_needed_install_without_apt_fails(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "grep"):
        (bin_dir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())

    result = subprocess.run(
        ["scripts/apt-ensure.sh", "nginx"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PATH": str(bin_dir)},
    )

    assert result.returncode == 1
    assert "apt-get and dpkg-query are needed" in result.stderr
