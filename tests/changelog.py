"""CHANGELOG.md read as the record of releases: `## <version> — <date> — commit <sha>` for each
release, newest first, and at most one `## Unreleased — <version>` above them."""

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADING = re.compile(
    r"^## (?:(?P<unreleased>Unreleased) — (?P<next>\S+)"
    r"|(?P<version>\S+) — (?P<date>\S+) — commit (?P<commit>\S+))$"
)


@dataclass(frozen=True)
class Release:
    version: str
    commit: str | None  # None: not released yet
    date: str | None


def releases(path: Path = ROOT / "CHANGELOG.md") -> list[Release]:
    found = []
    for line in path.read_text().splitlines():
        if not line.startswith("## "):
            continue
        match = HEADING.match(line)
        assert match, f"CHANGELOG.md: a heading that names no release: {line!r}"
        if match["unreleased"]:
            found.append(Release(match["next"], None, None))
        else:
            found.append(Release(match["version"], match["commit"], match["date"]))
    return found


def previous_release() -> Release:
    """The newest release that has a commit: what an installation upgrades from."""
    return next(release for release in releases() if release.commit)
