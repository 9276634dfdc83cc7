#!/usr/bin/env bash
# `make test-next`: the fast suite on the next Django (docs/architecture.md, "The next Django").
#
# Builds .venv-next with Python 3.13 (Django 6.0 needs >= 3.12) from requirements.txt and
# requirements-dev.txt, every package named in constraints-next.txt (Django, DRF) taken at that
# file's version instead of requirements.txt's pin, then runs the fast suite (the tests `make
# test-fast` runs: no worker, several-machine, replica, browser or docs-snippet tests) on SQLite in
# memory and the local-memory cache: DATABASE_URL and REDIS_URL are ignored, so that the run
# needs no server and what it checks is the framework, not the services. The venv is rebuilt when
# one of the three files is newer than it. Python: $PYTHON_NEXT, else `python3.13` on the PATH,
# else pyenv's newest 3.13. Extra pytest arguments: PYTEST_ARGS. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-next
CONSTRAINTS=constraints-next.txt
# The tests `make test-fast` runs (the Makefile passes its FAST_MARKERS).
MARKERS="${FAST_MARKERS:-not celery_worker and not e2e and not multinode and not replica and not docs_snippets and not outage and not upgrade}"

is_313() { "$1" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; }

find_python() {  # the first candidate that runs and is 3.13 (pyenv's shim may exist and refuse to run)
    local candidate
    if [ -n "${PYTHON_NEXT:-}" ]; then
        is_313 "$PYTHON_NEXT" && printf '%s\n' "$PYTHON_NEXT"
        return
    fi
    for candidate in "$(command -v python3.13 || true)" \
        $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python /root/.pyenv/versions/3.13*/bin/python \
            2>/dev/null | sort -Vr); do
        if [ -n "$candidate" ] && is_313 "$candidate"; then
            printf '%s\n' "$candidate"
            return
        fi
    done
}

python="$(find_python || true)"
if [ -z "$python" ]; then
    echo "test-next: no Python 3.13 found (tried \$PYTHON_NEXT, python3.13 on the PATH, pyenv's 3.13)." >&2
    echo "test-next: Django 6.0 needs Python >= 3.12; install python3.13 (Debian 13) or set PYTHON_NEXT=/path/to/python3.13." >&2
    exit 2
fi

stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ] \
    || [ "$CONSTRAINTS" -nt "$stamp" ] || [ "$(cat "$VENV/.python" 2>/dev/null)" != "$python" ]; then
    echo "test-next: building $VENV with $python ($("$python" -V 2>&1))"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    # The requirements without the packages constraints-next.txt names; requirements-dev.txt's
    # `-r requirements.txt` then reads the filtered copy beside it.
    names="$(sed -nE 's/^[[:space:]]*([A-Za-z0-9._-]+)[[:space:]]*==.*/\1/p' "$CONSTRAINTS" | tr 'A-Z_.' 'a-z--')"
    filter() {  # stdin → stdin without the lines pinning one of $names
        local line name
        while IFS= read -r line || [ -n "$line" ]; do
            name="$(printf '%s' "$line" | sed -nE 's/^[[:space:]]*([A-Za-z0-9._-]+).*/\1/p' | tr 'A-Z_.' 'a-z--')"
            if [ -n "$name" ] && grep -qxF "$name" <<<"$names"; then continue; fi
            printf '%s\n' "$line"
        done
    }
    filter <requirements.txt >"$VENV/requirements.txt"
    filter <requirements-dev.txt >"$VENV/requirements-dev.txt"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$VENV/requirements-dev.txt" -r "$CONSTRAINTS" -c "$CONSTRAINTS"
    printf '%s\n' "$python" >"$VENV/.python"
    touch "$stamp"
fi

"$VENV/bin/python" - "$CONSTRAINTS" <<'EOF'
import sys
from importlib.metadata import version

wanted = {}
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if "==" in line:
        name, pinned = (part.strip() for part in line.split("==", 1))
        wanted[name] = pinned
print("test-next: Python", sys.version.split()[0], *(f"{name} {version(name)}" for name in wanted))
wrong = [name for name, pinned in wanted.items() if version(name) != pinned]
if wrong:
    sys.exit(f"test-next: {', '.join(wrong)} not at the version constraints-next.txt pins")
EOF

# TEST_NEXT_BUILD_ONLY=1: build and check the venv, run nothing (.ci/run builds it while the
# main tests run, so the job itself is only the suite).
[ "${TEST_NEXT_BUILD_ONLY:-}" = "1" ] && exit 0

read -r -a extra <<<"${PYTEST_ARGS:-}"
export VAR_DIR="$PWD/var/tests-next"
rm -rf "$VAR_DIR"
exec env -u DATABASE_URL -u REDIS_URL "$VENV/bin/python" -m pytest -m "$MARKERS" -p no:cacheprovider \
    "${extra[@]+"${extra[@]}"}"
