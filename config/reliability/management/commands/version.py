"""`manage.py version`: the version of the code this installation runs (config/version.py), the
one CHANGELOG.md names; docs/deploy.md checks it before and after an upgrade."""

from django.core.management.base import BaseCommand

from config.version import VERSION


class Command(BaseCommand):
    help = "Print the version of the installed code (CHANGELOG.md names each release)."

    def handle(self, *args, **options):
        self.stdout.write(VERSION)
