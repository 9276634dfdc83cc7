"""The production recipe in deploy/ is valid as shipped (docs/deploy.md): nginx accepts the site, systemd
accepts the units, and the environment template is a production configuration that Django's
deployment checks find clean once its secret is filled in."""

import http.client
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import cache

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = [
    "warehouse-web.service",
    "warehouse-worker.service",
    "warehouse-beat.service",
    "warehouse-relay.service",
    "warehouse.target",
    "warehouse-backup.service",
    "warehouse-backup.timer",
    "warehouse-backup-failed.service",
]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=trace.example.cn",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_nginx_accepts_the_site(tmp_path):
    # `make test` installs nginx and openssl (Makefile TEST_DEBS); without them this fails.
    assert shutil.which("nginx") and shutil.which("openssl"), "install nginx and openssl (make system-test)"
    main = nginx_config(tmp_path)

    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_systemd_accepts_the_units(tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze missing (Debian package systemd)"
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text()
        # Installed under /opt/warehouse; here the checkout and the running virtualenv stand in for it.
        text = text.replace("/opt/warehouse/.venv/bin", str(Path(sys.executable).parent))
        (tmp_path / name).write_text(text.replace("/opt/warehouse", str(ROOT)))

    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *[str(tmp_path / name) for name in UNITS]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def template() -> dict[str, str]:
    """The variables deploy/warehouse.env.example sets."""
    lines = (DEPLOY / "warehouse.env.example").read_text().splitlines()
    return dict(line.partition("=")[::2] for line in lines if line.strip() and not line.startswith("#"))


def test_the_environment_template_is_a_clean_production_configuration(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **template()}
    assert env["SECRET_KEY"] == ""  # no secret is shipped
    env.update(SECRET_KEY=secrets.token_urlsafe(50), VAR_DIR=str(tmp_path / "var"))

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# --- nginx in front of the app, for real -----------------------------------------------------

HTTPS_PORT, HTTP_PORT = 18130, 18131


@pytest.fixture
def nginx_in_front(tmp_path, live_server, settings):
    """nginx with the shipped site (ports, certificate, paths of this machine) in front of a live
    Django server; stopped at the end, also on failure."""
    settings.ALLOWED_HOSTS = ["trace.example.cn"]
    settings.PUBLIC_VERIFY_TRUSTED_PROXIES = int(template()["PUBLIC_VERIFY_TRUSTED_PROXIES"])
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public_verify": "3/min"}}
    cache.clear()
    static = tmp_path / "static"
    static.mkdir()
    (static / "probe.txt").write_text("served by nginx")
    app_port = live_server.url.rsplit(":", 1)[1]
    main = nginx_config(
        tmp_path,
        "--upstream",
        f"127.0.0.1:{app_port}",
        "--listen",
        "127.0.0.1",
        "--https-port",
        str(HTTPS_PORT),
        "--http-port",
        str(HTTP_PORT),
        "--static-dir",
        str(static),
    )
    process = subprocess.Popen(
        ["nginx", "-p", str(tmp_path), "-c", str(main), "-g", "daemon off; user root;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def nginx_config(tmp_path: Path, *options: str) -> Path:
    """The shipped site rendered by deploy/nginx/render.py (as docs/deploy.md installs it) with this
    machine's certificate, snippet and log paths and `options`, in a main config of the test's own
    (Debian's nginx.conf, which includes the site, is not ours to ship)."""
    cert, key = self_signed_certificate(tmp_path)
    shutil.copy(DEPLOY / "nginx" / "warehouse-proxy.conf", tmp_path / "warehouse-proxy.conf")
    rendered = subprocess.run(
        [
            sys.executable,
            str(DEPLOY / "nginx" / "render.py"),
            "--certificate",
            str(cert),
            "--certificate-key",
            str(key),
            "--snippets-dir",
            str(tmp_path),
            "--log-dir",
            str(tmp_path),
            *options,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    (tmp_path / "warehouse.conf").write_text(rendered.stdout)
    main = tmp_path / "nginx.conf"
    main.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    access_log {tmp_path}/access.log;
    include {tmp_path}/warehouse.conf;
}}
""")
    return main


def get(path: str, *, client: str, headers=None, https=True) -> tuple[int, dict, bytes]:
    """GET through nginx from the loopback address `client` (127.0.0.x: each is another client)."""
    if https:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the test's own certificate
        conn = http.client.HTTPSConnection(
            "127.0.0.1", HTTPS_PORT, source_address=(client, 0), context=context, timeout=30
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, source_address=(client, 0), timeout=30)
    try:
        conn.request("GET", path, headers={"Host": "trace.example.cn", **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


UNKNOWN_CODE = "/c/" + "A" * 24


@pytest.mark.django_db(transaction=True)
def test_behind_nginx_the_public_page_limit_counts_the_real_client(nginx_in_front):
    # One client (127.0.0.2) uses up its 3 requests a minute, forging X-Forwarded-For to look new.
    answers = [
        get(UNKNOWN_CODE, client="127.0.0.2", headers={"X-Forwarded-For": f"203.0.113.{i}"})[0] for i in range(4)
    ]
    assert answers == [404, 404, 404, 429]

    # Another client behind the same nginx is not limited by the first one's requests.
    assert get(UNKNOWN_CODE, client="127.0.0.3")[0] == 404


@pytest.mark.django_db(transaction=True)
def test_nginx_redirects_to_https_serves_static_files_and_keeps_metrics_internal(nginx_in_front):
    status, headers, _ = get("/healthz", client="127.0.0.2", https=False)
    # The redirect names the HTTPS port the site was rendered with (443 leaves it out).
    assert status == 301 and headers["Location"] == f"https://trace.example.cn:{HTTPS_PORT}/healthz"

    status, _, body = get("/static/probe.txt", client="127.0.0.2")
    assert (status, body) == (200, b"served by nginx")

    status, _, body = get("/healthz", client="127.0.0.2")
    assert status == 200 and b'"database": "ok"' in body

    # /metrics: 403 from nginx for anyone outside the allowed addresses; 127.0.0.1 reaches the app.
    assert get("/metrics", client="127.0.0.2")[0] == 403
    assert get("/metrics", client="127.0.0.1")[0] != 403
