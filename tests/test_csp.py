"""Content-Security-Policy (django-csp): every answer carries a policy that allows scripts and
styles only from our own origin, so an injected <script> or on*= handler does not run. The
templates keep no inline script, handler or style for that reason; Swagger UI alone may set
inline styles, and its files come from our own static files, not a CDN."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

TEMPLATES = Path(settings.BASE_DIR) / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.I)


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def test_no_template_has_inline_script_handlers_or_styles():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, HANDLER, INLINE_STYLE, re.compile(r"javascript:", re.I)):
            offenders += [f"{path.relative_to(TEMPLATES)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert offenders == []


@pytest.mark.parametrize("path", ["/accounts/login/", "/c/AAAAAAAAAAAAAAAAAAAAAAAA", "/api/markets/", "/healthz"])
def test_every_answer_carries_the_strict_policy(db, path):
    directives = policy(Client().get(path))

    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"] == "style-src 'self'"
    assert directives["default-src"] == "default-src 'self'"
    assert directives["object-src"] == "object-src 'none'" and directives["frame-ancestors"] == "frame-ancestors 'none'"


def test_swagger_ui_comes_from_our_own_static_files_with_no_inline_script(db):
    response = Client().get("/api/docs/")
    html = response.content.decode()

    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"] == "style-src 'self' 'unsafe-inline'"  # Swagger UI's own styles
    sources = re.findall(r"<script[^>]*src=\"([^\"]+)\"", html)
    assert sources and all(src.startswith("/") and not src.startswith("//") for src in sources)
    assert "cdn" not in html.lower()
    assert INLINE_SCRIPT.search(html) is None
    script = Client().get("/api/docs/", {"script": ""})
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
