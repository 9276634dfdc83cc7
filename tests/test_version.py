"""The version is in one place (config/version.py) and every surface shows that one: /healthz,
the pages' footer, the OpenAPI schema, `manage.py version`; CHANGELOG.md names each release's
version and commit, the newest entry being the version the code says it is."""

import io
import re
import subprocess
import sys

from django.core.management import call_command

from config.version import VERSION

from .changelog import ROOT, releases

SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def test_healthz_carries_the_running_version(client, db):
    assert client.get("/healthz").json()["version"] == VERSION


def test_the_pages_footer_shows_the_version(client, db):
    page = client.get("/accounts/login/").content.decode()

    assert re.search(rf'data-testid="version">[^<]*{re.escape(VERSION)}<', page)


def test_the_openapi_schema_has_the_same_version(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    assert schema["info"]["version"] == VERSION


def test_the_management_command_prints_the_version():
    out = io.StringIO()
    call_command("version", stdout=out)

    assert out.getvalue().strip() == VERSION
    # and `manage.py version` itself, which Django would answer with its own version
    done = subprocess.run(
        [sys.executable, "manage.py", "version"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == VERSION


def test_the_changelog_names_each_release_with_its_commit_newest_first():
    found = releases()

    # the code's version is the newest entry (released or about to be)
    assert found[0].version == VERSION
    assert all(SEMVER.match(release.version) for release in found)
    as_numbers = [tuple(int(part) for part in SEMVER.match(r.version).groups()) for r in found]
    assert as_numbers == sorted(as_numbers, reverse=True) and len(set(as_numbers)) == len(as_numbers)
    # only the newest may be unreleased; every release names a whole commit of this history
    assert all(release.commit for release in found[1:])
    for release in (r for r in found if r.commit):
        assert re.fullmatch(r"[0-9a-f]{40}", release.commit), release
        kind = subprocess.run(
            ["git", "cat-file", "-t", release.commit], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert kind.stdout.strip() == "commit", f"{release.version}: {release.commit} is not in this history"
    # the first release is the commit the system was first installed from
    assert found[-1].version == "1.0.0" and found[-1].commit.startswith("28b7913")
