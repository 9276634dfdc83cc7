"""The version of this code, in this one place: /healthz, the pages' footer, the OpenAPI schema
and `manage.py version` read it from here. CHANGELOG.md names each release's version and the
commit it was made from (docs/deploy.md, "Upgrades")."""

VERSION = "1.1.0"


def version(request) -> dict:
    """Template context processor: `app_version` for the footer of every page."""
    return {"app_version": VERSION}
