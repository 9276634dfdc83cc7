"""Production mode and the embedded default (docs/deploy.md, What production mode means):
where SECRET_KEY comes from, where QR codes point, how database connections are kept, and that
production never seeds demo users.

Settings are read once per process, so most of these start a real `python` with the
environment under test, the way a server or worker would start."""

import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from config.secret_key import local_secret_key

ROOT = Path(__file__).resolve().parent.parent

# Prints what a starting process sees; the key only as a digest.
PROBE = """
import hashlib, json, os, sys, time
go = os.environ.get("PROBE_GO")
while go and not os.path.exists(go):
    time.sleep(0.001)
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
django.setup()
from django.conf import settings
from batches.services import code_url
db = settings.DATABASES["default"]
print(json.dumps({
    "key": hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest(),
    "public_base_url": settings.PUBLIC_BASE_URL,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "code_url": code_url(token="A" * 24, gtin="", batch_number="B-1", serial=1),
    "conn_max_age": db["CONN_MAX_AGE"],
    "conn_health_checks": db["CONN_HEALTH_CHECKS"],
}))
"""


def clean_env(tmp_path, **extra) -> dict:
    """Only what the case sets: nothing of the test run's own environment leaks in."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "VAR_DIR": str(tmp_path / "var")}
    env.update(extra)
    return env


def start(env, *, wait=True):
    process = subprocess.Popen(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return finish(process) if wait else process


def finish(process) -> dict:
    import json

    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out)


def refused(env) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    return result.stderr


# --- SECRET_KEY ------------------------------------------------------------------------------


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    error = refused(clean_env(tmp_path, PUBLIC_BASE_URL="https://trace.example.cn", ALLOWED_HOSTS="trace.example.cn"))

    assert "SECRET_KEY is not set" in error
    assert not (tmp_path / "var" / "secret_key").exists()  # and it made none up


def test_production_flag_refuses_without_a_key_behind_a_plain_http_address(tmp_path):
    error = refused(clean_env(tmp_path, PRODUCTION="1", PUBLIC_BASE_URL="http://10.0.0.5:8000"))

    assert "SECRET_KEY is not set" in error


def test_production_uses_the_key_it_is_given(tmp_path):
    key = "k" * 60
    seen = start(clean_env(tmp_path, SECRET_KEY=key, PUBLIC_BASE_URL="https://trace.example.cn"))

    assert seen["key"] == hashlib.sha256(key.encode()).hexdigest()
    assert not (tmp_path / "var" / "secret_key").exists()


def test_the_embedded_default_makes_a_private_key_on_first_start_and_keeps_it(tmp_path):
    first = start(clean_env(tmp_path))

    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 50
    assert first["key"] == hashlib.sha256(key_file.read_text().strip().encode()).hexdigest()
    assert start(clean_env(tmp_path))["key"] == first["key"]  # a restart keeps sessions valid
    # Another installation gets another key: nothing is shared through the repository.
    assert start(clean_env(tmp_path / "other"))["key"] != first["key"]


def test_processes_starting_at_the_same_moment_agree_on_one_key(tmp_path):
    go = tmp_path / "go"
    env = clean_env(tmp_path, PROBE_GO=str(go))
    processes = [start(env, wait=False) for _ in range(6)]
    time.sleep(1.0)  # every interpreter is up and polling for the go file
    go.touch()

    keys = {finish(process)["key"] for process in processes}

    key_file = tmp_path / "var" / "secret_key"
    assert keys == {hashlib.sha256(key_file.read_text().strip().encode()).hexdigest()}
    assert [p.name for p in key_file.parent.iterdir() if p.name.startswith(".secret_key")] == []


def test_a_key_published_by_another_process_first_is_the_one_used(tmp_path, monkeypatch):
    # The race itself, made deterministic: another process links its key between our check and our link.
    published = "p" * 60
    real_link = os.link

    def link_after_the_other_process(src, dst):
        Path(dst).write_text(published)
        real_link(src, dst)

    monkeypatch.setattr(os, "link", link_after_the_other_process)

    assert local_secret_key(tmp_path) == published
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret_key"]


def test_a_damaged_key_file_is_an_error_not_a_weak_key(tmp_path):
    (tmp_path / "secret_key").write_text("short\n")

    with pytest.raises(Exception, match="holds no usable key"):
        local_secret_key(tmp_path)


# --- demo data ------------------------------------------------------------------------------


def test_seed_demo_refuses_to_run_in_production(empty_db, settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="does not run in production"):
        call_command("seed_demo", password="known-to-everyone")

    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.exists()


# --- where QR codes point -------------------------------------------------------------------


def test_qr_urls_follow_host_and_port_when_no_public_address_is_set(tmp_path):
    seen = start(clean_env(tmp_path, HOST="192.168.1.20", PORT="8123"))

    assert seen["public_base_url"] == "http://192.168.1.20:8123"
    assert seen["code_url"] == "http://192.168.1.20:8123/c/" + "A" * 24
    assert "192.168.1.20" in seen["allowed_hosts"]  # a phone scanning that code is served


def test_a_wildcard_bind_address_makes_localhost_codes(tmp_path):
    assert start(clean_env(tmp_path, HOST="0.0.0.0", PORT="9000"))["public_base_url"] == "http://localhost:9000"
    assert start(clean_env(tmp_path, HOST="::1"))["public_base_url"] == "http://[::1]:8000"


def test_the_public_address_wins_over_host_and_port(tmp_path):
    seen = start(
        clean_env(
            tmp_path,
            HOST="192.168.1.20",
            PORT="8123",
            SECRET_KEY="s" * 60,
            PUBLIC_BASE_URL="https://trace.example.cn/",
            ALLOWED_HOSTS="trace.example.cn",
        )
    )

    assert seen["code_url"] == "https://trace.example.cn/c/" + "A" * 24
    assert seen["allowed_hosts"] == ["trace.example.cn"]


# --- database connections -------------------------------------------------------------------


def test_postgresql_connections_are_kept_and_checked_by_default(tmp_path):
    seen = start(clean_env(tmp_path, DATABASE_URL="postgres://warehouse@db.internal:5432/warehouse"))

    assert seen["conn_max_age"] == 600 and seen["conn_health_checks"] is True
    tuned = start(clean_env(tmp_path, DATABASE_URL="postgres://warehouse@db.internal/warehouse", DB_CONN_MAX_AGE="0"))
    assert tuned["conn_max_age"] == 0
    assert start(clean_env(tmp_path))["conn_max_age"] == 0  # SQLite: a file, nothing to keep open


# --- What production serves -----------------------------------------------------------------

SERVED = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from django.conf import settings
from django.test import Client
answer = Client().get("/api/markets/", HTTP_ACCEPT="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
print(json.dumps({"type": answer["Content-Type"], "status": answer.status_code,
                  "session_age": settings.SESSION_COOKIE_AGE}))
"""


def served(env) -> dict:
    import json

    done = subprocess.run(
        [sys.executable, "-c", SERVED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_production_has_no_browsable_api_and_sessions_last_a_shift(tmp_path):
    production = served(clean_env(tmp_path, PRODUCTION="1", SECRET_KEY="k" * 50))
    assert production["status"] == 401 and production["type"] == "application/json"
    assert production["session_age"] == 12 * 3600

    # Off production a browser still gets the browsable API, and the lifetime follows the setting
    development = served(clean_env(tmp_path, SESSION_TTL_HOURS="8"))
    assert development["status"] == 401 and development["type"].startswith("text/html")
    assert development["session_age"] == 8 * 3600
