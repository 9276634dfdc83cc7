#!/usr/bin/env python3
"""Writes the nginx site deploy/nginx/warehouse.conf for one installation to standard output,
changing only what differs between installations: the server name, the certificate, the web
nodes (upstream), the listening address and ports, the internal network allowed to /metrics,
and where this machine keeps the static files, the proxy snippet and the logs. Everything else
(body size, TLS, timeouts, next-upstream rules, headers) stays as shipped. docs/deploy.md, "nginx":

    python3 deploy/nginx/render.py --server-name trace.example.cn \\
        --upstream 127.0.0.1:8000 > /etc/nginx/sites-available/warehouse

Only the Python standard library; every option has the shipped value as its default. A line the
template no longer has is an error, so the template and this script cannot drift apart."""

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent / "warehouse.conf"

UPSTREAM_LINES = re.compile(r"(upstream warehouse_web \{\n)(?:    #? ?server [^\n]*\n)+")


def arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-name", default="trace.example.cn", help="the public host name (in the QR codes)")
    parser.add_argument("--certificate", default="/etc/ssl/warehouse/fullchain.pem", help="certificate chain (PEM)")
    parser.add_argument("--certificate-key", default="/etc/ssl/warehouse/privkey.pem", help="its private key (PEM)")
    parser.add_argument(
        "--upstream",
        action="append",
        metavar="HOST:PORT",
        help="a web node's gunicorn; once per node (default 127.0.0.1:8000)",
    )
    parser.add_argument("--listen", default="", help="listen on this address only (default: every address, IPv4+6)")
    parser.add_argument("--https-port", type=int, default=443)
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument(
        "--internal-network",
        action="append",
        metavar="CIDR",
        help="may read /metrics besides loopback; once per network (default 10.0.0.0/8)",
    )
    parser.add_argument("--static-dir", default="/var/lib/warehouse/static", help="VAR_DIR/static")
    parser.add_argument("--snippets-dir", default="/etc/nginx/snippets", help="where warehouse-proxy.conf is")
    parser.add_argument("--log-dir", default="/var/log/nginx")
    return parser.parse_args(argv)


def replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise SystemExit(f"render.py: the template has {text.count(old)} times {old!r}, expected once")
    return text.replace(old, new)


def render(options) -> str:
    site = TEMPLATE.read_text()
    upstreams = options.upstream or ["127.0.0.1:8000"]
    servers = "".join(f"    server {address} max_fails=3 fail_timeout=10s;\n" for address in upstreams)
    site, found = UPSTREAM_LINES.subn(lambda match: match.group(1) + servers, site)
    if found != 1:
        raise SystemExit("render.py: the template's `upstream warehouse_web` block is not where expected")

    for port, old in ((options.https_port, "443 ssl"), (options.http_port, "80")):
        new = f"{port} ssl" if "ssl" in old else str(port)
        if options.listen:
            site = replace_once(site, f"    listen {old};\n", f"    listen {options.listen}:{new};\n")
            site = replace_once(site, f"    listen [::]:{old};\n", "")
        else:
            site = replace_once(site, f"    listen {old};\n", f"    listen {new};\n")
            site = replace_once(site, f"    listen [::]:{old};\n", f"    listen [::]:{new};\n")
    if options.https_port != 443:
        # The redirect must name the port HTTPS is on.
        site = replace_once(
            site, "return 301 https://$host$request_uri;", f"return 301 https://$host:{options.https_port}$request_uri;"
        )

    site = site.replace("server_name trace.example.cn;", f"server_name {options.server_name};")
    site = replace_once(site, "/etc/ssl/warehouse/fullchain.pem", options.certificate)
    site = replace_once(site, "/etc/ssl/warehouse/privkey.pem", options.certificate_key)
    networks = options.internal_network or ["10.0.0.0/8"]
    site = replace_once(
        site,
        "        allow 10.0.0.0/8;  # placeholder: the monitoring network\n",
        "".join(f"        allow {network};\n" for network in networks),
    )
    site = replace_once(site, "alias /var/lib/warehouse/static/;", f"alias {options.static_dir.rstrip('/')}/;")
    site = site.replace("/etc/nginx/snippets/warehouse-proxy.conf", f"{options.snippets_dir}/warehouse-proxy.conf")
    site = site.replace("/var/log/nginx/warehouse.", f"{options.log_dir}/warehouse.")
    return site


if __name__ == "__main__":
    sys.stdout.write(render(arguments(sys.argv[1:])))
