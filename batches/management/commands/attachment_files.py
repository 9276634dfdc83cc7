"""`manage.py attachment_files export DIR` / `manage.py attachment_files import DIR`: every file of
the `attachments` storage (evidence photos, their thumbnails, papers) copied into a directory, or
from one back into the storage, under the same names as the database's `file` and `thumbnail`
columns. With ATTACHMENT_STORAGE=s3 this is how deploy/backup.sh puts the bucket's objects into
its encrypted archive and deploy/restore.sh puts them back (docs/deploy.md, "Backup and
restore"); it works the same on the filesystem storage.

`import` keeps what the storage already has (a name is unique and a file is never changed) and
adds the rest; it prints how many it added and kept."""

import os
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from batches.attachments import storage


def storage_names(store, folder: str = "") -> list[str]:
    """Every file name in the storage, below `folder`, in a stable order."""
    try:
        directories, files = store.listdir(folder)
    except FileNotFoundError:  # the filesystem storage's folder before its first photo
        return []
    names = [f"{folder}/{name}" if folder else name for name in files]
    for directory in directories:
        names += storage_names(store, f"{folder}/{directory}" if folder else directory)
    return sorted(names)


class Command(BaseCommand):
    help = "Copy every evidence file of the attachments storage into a directory (export), or back (import)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "import"])
        parser.add_argument("directory", help="an absolute path; export: an empty or new directory")

    def handle(self, *args, action: str, directory: str, **options):
        folder = Path(directory)
        if not folder.is_absolute():
            raise CommandError(f"give the directory as an absolute path, not {directory!r}")
        if action == "export":
            self.export(folder)
        else:
            self.import_(folder)

    def export(self, folder: Path) -> None:
        if folder.exists() and any(folder.iterdir()):
            raise CommandError(f"{folder} is not empty: export into an empty or new directory")
        store = storage()
        count = 0
        for name in storage_names(store):
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with store.open(name, "rb") as source, target.open("wb") as out:
                for chunk in iter(lambda source=source: source.read(1 << 20), b""):
                    out.write(chunk)
            count += 1
        folder.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"exported {count} files")

    def import_(self, folder: Path) -> None:
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a directory")
        store = storage()
        added = kept = 0
        for root, _dirs, files in os.walk(folder):
            for file_name in sorted(files):
                path = Path(root) / file_name
                name = path.relative_to(folder).as_posix()
                if store.exists(name):
                    kept += 1
                    continue
                with path.open("rb") as source:
                    saved = store.save(name, File(source, name=file_name))
                if saved != name:  # a storage that renamed it would break the database's reference
                    raise CommandError(f"{name} was stored as {saved}")
                added += 1
        self.stdout.write(f"imported {added} files, kept {kept} already there")
