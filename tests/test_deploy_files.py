"""The production recipe in deploy/ is valid as shipped (issue 8): nginx accepts the site, systemd
accepts the units, and the environment template is a production configuration that Django's
deployment checks find clean once its secret is filled in."""

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = ["warehouse-web.service", "warehouse-worker.service", "warehouse-beat.service", "warehouse-relay.service",
         "warehouse.target"]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=trace.example.cn", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_nginx_accepts_the_site(tmp_path):
    # `make test` installs nginx and openssl (Makefile TEST_DEBS); without them this fails.
    assert shutil.which("nginx") and shutil.which("openssl"), "install nginx and openssl (make system-test)"
    cert, key = self_signed_certificate(tmp_path)
    snippet = tmp_path / "warehouse-proxy.conf"
    shutil.copy(DEPLOY / "nginx" / "warehouse-proxy.conf", snippet)
    site = (DEPLOY / "nginx" / "warehouse.conf").read_text()
    # Only the paths of this machine change: the certificate the test made, the snippet's place.
    site = site.replace("/etc/ssl/warehouse/fullchain.pem", str(cert)).replace("/etc/ssl/warehouse/privkey.pem", str(key))
    site = site.replace("/etc/nginx/snippets/warehouse-proxy.conf", str(snippet))
    site = re.sub(r"(access_log|error_log) /var/log/nginx/", rf"\1 {tmp_path}/", site)
    (tmp_path / "warehouse.conf").write_text(site)
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

    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True,
                            timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_the_site_keeps_metrics_internal_and_passes_the_client_address():
    site = (DEPLOY / "nginx" / "warehouse.conf").read_text()
    metrics = re.search(r"location = /metrics \{(.*?)\}", site, flags=re.DOTALL).group(1)
    assert re.search(r"allow 127\.0\.0\.1;.*allow 10\.0\.0\.0/8;.*deny all;.*proxy_pass", metrics, flags=re.DOTALL), metrics
    proxy = (DEPLOY / "nginx" / "warehouse-proxy.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in proxy
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in proxy
    assert "PUBLIC_VERIFY_TRUSTED_PROXIES=1" in (DEPLOY / "warehouse.env.example").read_text()


def test_systemd_accepts_the_units(tmp_path):
    assert shutil.which("systemd-analyze"), "systemd-analyze missing (Debian package systemd)"
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text()
        # Installed under /opt/warehouse; here the checkout stands in for it.
        (tmp_path / name).write_text(text.replace("/opt/warehouse", str(ROOT)))

    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *[str(tmp_path / name) for name in UNITS]],
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_environment_template_is_a_clean_production_configuration(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    for line in (DEPLOY / "warehouse.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    assert env["SECRET_KEY"] == ""  # no secret is shipped
    env.update(SECRET_KEY=secrets.token_urlsafe(50), VAR_DIR=str(tmp_path / "var"))

    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
