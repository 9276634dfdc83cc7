"""The OpenAPI schema tells the truth (SPEC §4): Schemathesis runs every check it has against
a real server (gunicorn on this machine, on the test database) for a signed-in caller of each
role, and finds nothing. Its data generation is deterministic, so CI sees the same cases.

What is configured, and why (everything else is Schemathesis' default, all checks on):

- `positive_data_acceptance` also accepts 422 everywhere: an `Idempotency-Key` used before
  with another request is refused with 422 (R7, documented), and the generator reuses short
  keys across different bodies. For the operations listed in ANSWERS_400_TO_VALID_SHAPES it
  also accepts 400: their input names stored things (a market or warehouse code, a line id, a
  sample number, code tokens, a sign-in) or obeys a rule between fields or a check digit
  (from < to, `codes` or `all`, GS1 and credit-code check digits), which no JSON Schema can
  state; the server answers 400 with field errors, which the schema documents.
- `generation.allow-x00 = false`: a NUL character is refused in every string (parser and
  middleware, tests/test_malformed_input.py proves it per operation); JSON Schema can state that
  only with a pattern on every string, which would bury the real patterns.
- `no-shrink`: the server's data moves on between tries (a recall stays recalled), so a
  shrunk replay would meet another world; a failure is reported as it was found.
- `hooks`: tests/schemathesis_hooks.py works around a CPython 3.11 fault inside Hypothesis
  (explained there); it changes no request and no check.
- The sign-out (`POST /api/auth/logout/`) runs alone, after the others: it revokes the caller's
  token, and every request after it in the same run would be a 401 that tests nothing.
- Path parameters name real objects of the caller (a batch of market A, one of its codes, its
  sale, its merchant): random values would only ever be 404 and leave the operations untested.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.utils import timezone

from markets.models import Merchant
from tests.conftest import BUYER, PASSWORD, Flow

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("SCHEMATHESIS_TEST_PORT", "18350"))
BASE = f"http://127.0.0.1:{PORT}"
MAX_EXAMPLES = 4
# Who runs which phases. The coverage phase (each boundary and each kind of wrong value of
# every parameter and field) is the long one: it runs for the roles whose validation the most
# operations reach — the operator (the warehouse's actions, labels, scans), the merchant
# (declarations, sales) and the regulator (trace periods and searches, recalls) — and the
# reviewer (approve/reject) gets fuzzing and stateful runs. Methods an operation does not
# have are answered 405 before the role matters, so the first caller alone tries all of them.
ROLES = {
    "operator-1": {"coverage": True, "unexpected_methods": True},
    "merchant-a1": {"coverage": True, "unexpected_methods": False},
    "regulator": {"coverage": True, "unexpected_methods": False},
    "reviewer-a": {"coverage": False, "unexpected_methods": False},
}

ANSWERS_400_TO_VALID_SHAPES = [
    ("POST", "/api/auth/token/"),  # the username and password of a real user
    ("POST", "/api/batches/"),  # the caller's own market; GTIN check digit
    ("PATCH", "/api/batches/{number}/"),  # GTIN check digit; only the fields a draft may change
    ("POST", "/api/batches/{number}/approve/"),  # a warehouse that serves the batch's market
    ("POST", "/api/batches/{number}/arrive/"),  # each declared line id exactly once
    ("POST", "/api/batches/{number}/samples/"),  # a sample number not used before in the batch
    ("POST", "/api/batches/{number}/test-results/"),  # the number of a sample taken
    ("POST", "/api/batches/{number}/release/"),  # `codes` (tokens of this batch) or `all`, not both
    ("POST", "/api/sales/"),  # released codes of the caller; credit code check digit, business only
    ("GET", "/api/sales/"),  # from < to
    ("GET", "/api/trace/merchants/{merchant_id}/sales/"),  # from < to
    ("POST", "/api/batches/{number}/attachments/"),  # a real JPEG, PNG or WebP; an event of this batch
    ("POST", "/api/batches/{number}/documents/"),  # a real PDF or image; a paper of this batch to replace
    ("POST", "/api/incidents/{incident_id}/seal/"),  # numbers of the incident's co-located lots
    ("POST", "/api/incidents/{incident_id}/lift-seal/"),  # the same
]


def database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def schemathesis_config(
    values: dict, *, coverage: bool, unexpected_methods: bool, max_examples: int = MAX_EXAMPLES
) -> str:
    lines = [
        'hooks = "tests.schemathesis_hooks"',
        "",
        "[generation]",
        "deterministic = true",
        "allow-x00 = false",
        "no-shrink = true",
        f"max-examples = {max_examples}",
        "",
        "[phases.coverage]",
        f"enabled = {str(coverage).lower()}",
        *([] if unexpected_methods else ['unexpected-methods = ["TRACE"]']),
        "",
        "[checks.positive_data_acceptance]",
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]',
        "",
        "[parameters]",
        *(
            f"{toml_string(name)} = {value if isinstance(value, int) else toml_string(value)}"
            for name, value in values.items()
        ),
        "",
    ]
    for method, path in ANSWERS_400_TO_VALID_SHAPES:
        lines += [
            "[[operations]]",
            f"include-method = {toml_string(method)}",
            f"include-path = {toml_string(path)}",
            "[operations.checks.positive_data_acceptance]",
            'expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "422", "429"]',
            "",
        ]
    return "\n".join(lines)


@pytest.fixture
def goods(transactional_db, world):
    """Market A's batch, coded, released and one code sold; passwords the server can check
    (the test settings hash with MD5, which the server's settings do not accept)."""
    hasher = PBKDF2PasswordHasher()
    for user in get_user_model().objects.all():
        user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
        user.save(update_fields=["password"])
    from tests.conftest import Api

    flow = Flow(Api())
    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False) as clock:
        codes = flow.released(clock)
    sale = flow.api("merchant-a1").post("/api/sales/", {"codes": [codes[0]["token"]], **BUYER}, format="json")
    assert sale.status_code == 201, sale.content
    return {
        "path.number": flow.number,
        "path.token": codes[1]["token"],
        "path.sale_id": sale.json()["id"],
        "path.merchant_id": Merchant.objects.get(user__username="merchant-a1").pk,
        "path.value": flow.number,
    }


@pytest.fixture
def server(goods, tmp_path):
    """gunicorn serving this checkout on the test database; stopped whatever happens."""
    log = tmp_path / "server.log"
    env = dict(
        os.environ, DATABASE_URL=database_url(), DEBUG="0", ALLOWED_HOSTS="127.0.0.1", CELERY_TASK_ALWAYS_EAGER="1"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            "2",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{BASE}/api/schema/", timeout=30).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet, or still building the schema
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield goods
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def sign_in(usernames) -> dict[str, str]:
    """All sign-ins first: the runs try many wrong passwords on the sign-in, and repeated
    failures from one address lock it out for a while (SPEC §4)."""
    tokens = {}
    for username in usernames:
        answer = requests.post(f"{BASE}/api/auth/token/", json={"username": username, "password": PASSWORD}, timeout=30)
        assert answer.status_code == 200, answer.text
        tokens[username] = answer.json()["token"]
    return tokens


def schemathesis(tmp_path, name: str, config: str, token: str, *arguments: str) -> str | None:
    """Runs the Schemathesis command; its output if it failed, None if it found nothing."""
    (tmp_path / f"{name}.toml").write_text(config)
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(tmp_path / f"{name}.toml"),
            "run",
            f"{BASE}/api/schema/",
            "--header",
            f"Authorization: Token {token}",
            "--workers",
            "2",
            "--no-color",
            "--report-dir",
            str(tmp_path / name),
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            *arguments,
        ],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    output = run.stdout + run.stderr
    (tmp_path / f"{name}.log").write_text(output)
    summary = output.split("SUMMARY")[-1]
    if run.returncode != 0 or "Tested: " not in summary:
        return output[-12000:]
    return None


# The sign-out revokes the caller's token: run among the others, every later request of that
# run would be a 401 and test nothing. It gets a run of its own, last.
SIGN_OUT = "/api/auth/logout/"


def test_schemathesis_finds_nothing_for_any_role(server, tmp_path):
    """One server, one world, four callers in turn (ROLES), every check."""
    tokens = sign_in(ROLES)
    failed = {}
    for username, phases in ROLES.items():
        config = schemathesis_config(server, **phases)
        found = schemathesis(
            tmp_path, username, config, tokens[username], "--checks", "all", "--exclude-path", SIGN_OUT
        )
        if found:
            failed[username] = found
    config = schemathesis_config(server, coverage=True, unexpected_methods=True)
    username = next(iter(ROLES))
    found = schemathesis(tmp_path, "sign-out", config, tokens[username], "--checks", "all", "--include-path", SIGN_OUT)
    if found:
        failed["sign-out"] = found
    assert not failed, "\n\n".join(f"--- as {username}:\n{output}" for username, output in failed.items())


# The fuzzing phase at the size the contract asks for (100 examples per operation), every check
# but `positive_data_acceptance`: valid input is refused by design wherever it names a stored
# thing or breaks a rule between fields (403/404/409, see the module's docstring), which the
# check cannot know. What is left must hold on every generated case: no 5xx, every status and
# body documented, anything the schema refuses refused (negative data), headers and content
# types as stated.
#
# Its size in CI, measured on the 2-core development machine (shared with other work): 100
# examples for one caller take 93–117 s (operator 117, merchant 97, regulator 93, reviewer 93;
# about 6,000–8,000 requests each), all four 400 s, on top of the all-checks run's 136 s. Four
# callers would add close to 7 minutes to a suite that must stay well under 20, so CI runs the
# two whose input reaches the most validation: the operator (the warehouse's actions, labels,
# scans and codes) and the regulator (periods, trace, district filters, recalls): 136 s, and
# 3 min 30 s for this whole file with the all-checks run, on PostgreSQL. The merchant and the
# reviewer at 100 examples found nothing either (a run by hand with
# SCHEMATHESIS_FUZZ_ROLES=operator-1,merchant-a1,regulator,reviewer-a).
FUZZ_EXAMPLES = int(os.environ.get("SCHEMATHESIS_FUZZ_EXAMPLES", "100"))
FUZZ_ROLES = os.environ.get("SCHEMATHESIS_FUZZ_ROLES", "operator-1,regulator").split(",")


def test_schemathesis_fuzzing_with_100_examples_per_operation_finds_nothing(server, tmp_path):
    """FUZZ_EXAMPLES generated cases per operation for each of FUZZ_ROLES, one run per role."""
    tokens = sign_in(FUZZ_ROLES)
    failed = {}
    for username in FUZZ_ROLES:
        config = schemathesis_config(server, coverage=False, unexpected_methods=False, max_examples=FUZZ_EXAMPLES)
        found = schemathesis(
            tmp_path,
            f"fuzz-{username}",
            config,
            tokens[username],
            "--phases",
            "fuzzing",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--exclude-path",
            SIGN_OUT,
        )
        if found:
            failed[username] = found
    assert not failed, "\n\n".join(f"--- as {username}:\n{output}" for username, output in failed.items())
