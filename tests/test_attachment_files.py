"""`manage.py attachment_files export|import DIR`: how deploy/backup.sh copies the evidence files
of the attachments storage into its archive and deploy/restore.sh puts them back, on the
filesystem storage and on an S3-compatible store (moto's S3 in server mode, a process of its
own, as ATTACHMENT_STORAGE=s3 configures django-storages)."""

import io
import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from batches.attachments import storage

from .processes import OwnTempDir, Processes, S3Store

FILES = {
    "2026/12/08/a1b2c3.jpg": b"\xff\xd8 a photo",
    "2026/12/08/a1b2c3-thumb.jpg": b"\xff\xd8 its thumbnail",
    "2026/12/09/d4e5f6.pdf": b"%PDF-1.4 a paper",
}


@pytest.fixture(scope="module")
def s3_server():
    own = OwnTempDir("wh_s3_")
    processes = Processes(own.path, {"PATH": os.environ["PATH"]})
    try:
        store = S3Store.start(processes)
        store.create_bucket()
        yield store
    finally:
        processes.stop_all()
        own.remove()


@pytest.fixture(params=["filesystem", "s3"])
def attachment_store(request, settings, tmp_path):
    """The attachments storage as settings configure it for ATTACHMENT_STORAGE=filesystem or s3;
    `.reset()` gives an empty one (a new folder, or the bucket emptied)."""
    if request.param == "filesystem":

        def configure(folder: str) -> None:
            settings.STORAGES = {
                **settings.STORAGES,
                "attachments": {
                    "BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": str(tmp_path / folder), "base_url": None},
                },
            }

        configure("store-1")
        yield lambda: configure("store-2")
        return
    server = request.getfixturevalue("s3_server")
    server.empty()
    for name, value in server.environment().items():
        if name.startswith("AWS_"):
            os.environ[name] = value  # boto3 reads them, as in production
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": S3Store.BUCKET,
                "endpoint_url": server.endpoint,
                "region_name": S3Store.REGION,
                "location": S3Store.PREFIX,
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }
    try:
        yield server.empty
    finally:
        for name in server.CREDENTIALS:
            os.environ.pop(name, None)


def export(directory: Path) -> str:
    out = io.StringIO()
    call_command("attachment_files", "export", str(directory), stdout=out)
    return out.getvalue()


def import_(directory: Path) -> str:
    out = io.StringIO()
    call_command("attachment_files", "import", str(directory), stdout=out)
    return out.getvalue()


def test_export_then_import_into_an_empty_store_brings_back_every_file(attachment_store, tmp_path):
    reset = attachment_store
    for name, content in FILES.items():
        assert storage().save(name, ContentFile(content)) == name

    assert export(tmp_path / "copy") == "exported 3 files\n"
    copied = {
        path.relative_to(tmp_path / "copy").as_posix(): path.read_bytes() for path in (tmp_path / "copy").rglob("*.*")
    }
    assert copied == FILES

    reset()  # the store lost everything
    assert not storage().exists("2026/12/08/a1b2c3.jpg")
    assert import_(tmp_path / "copy") == "imported 3 files, kept 0 already there\n"
    for name, content in FILES.items():
        with storage().open(name, "rb") as stored:
            assert stored.read() == content
    # Once more: what is there is kept, nothing is stored twice under another name.
    assert import_(tmp_path / "copy") == "imported 0 files, kept 3 already there\n"


def test_an_empty_store_exports_nothing(attachment_store, tmp_path):
    assert export(tmp_path / "copy") == "exported 0 files\n"
    assert list((tmp_path / "copy").iterdir()) == []


def test_export_refuses_a_relative_or_non_empty_directory_and_import_a_missing_one(tmp_path):
    with pytest.raises(CommandError, match="absolute path"):
        call_command("attachment_files", "export", "copy")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "left.jpg").write_bytes(b"x")
    with pytest.raises(CommandError, match="is not empty"):
        call_command("attachment_files", "export", str(tmp_path / "full"))
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("attachment_files", "import", str(tmp_path / "nowhere"))
