from axes.utils import reset
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Lift the sign-in lockout of the given usernames (their failures are forgotten)."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="+")

    def handle(self, *args, username, **options):
        for name in username:
            removed = reset(username=name)
            self.stdout.write(f"{name}: unlocked ({removed} failure record(s) removed)")
