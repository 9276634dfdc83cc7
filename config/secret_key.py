"""The embedded default's SECRET_KEY: generated on first start, kept in a file under VAR_DIR.

Production sets SECRET_KEY in the environment (config/settings.py refuses to start without it).
On one machine without it, the first process to start writes a random key; every later process,
and every process starting at the same moment, reads that same key, so sessions and signed
values survive restarts and agree between the web server and the Celery worker."""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

FILE_NAME = "secret_key"


def local_secret_key(var_dir: Path) -> str:
    """The key stored in `var_dir/secret_key`, created (mode 600) if there is none.

    Created atomically: the key is written to a private temporary file which is then hard-linked
    to the final name. A link fails if the name exists, so of several processes starting at once
    exactly one publishes its key and the others read it; nobody can read a half-written file."""
    path = Path(var_dir) / FILE_NAME
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=var_dir, prefix=".secret_key.")  # mode 600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(50))
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # another process was first: use its key
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = path.read_text().strip()
    if len(key) < 50:
        raise ImproperlyConfigured(f"{path} holds no usable key: delete it to have a new one generated")
    return key
