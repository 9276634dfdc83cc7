"""`manage.py ops_alert --subject S --message M [--to A,B]`: an alert about the installation itself
(a failed backup: deploy/systemd/warehouse-backup-failed.service, which passes OPS_ALERT_EMAILS
of the environment file as --to). Logged as an error (the journal keeps it) and mailed to the
addresses through the app's own mail settings. Exit status 1 when the mail could not be sent,
so that systemd shows the alert itself failed."""

import logging
import socket

from django.conf import settings
from django.core.mail import send_mail
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger("warehouse.ops")


class Command(BaseCommand):
    help = "Log an alert about the installation and mail it to the addresses of --to."

    def add_arguments(self, parser):
        parser.add_argument("--subject", required=True)
        parser.add_argument("--message", required=True)
        parser.add_argument("--to", default="", help="comma-separated addresses; empty: the log only")

    def handle(self, *args, subject: str, message: str, to: str, **options):
        host = socket.gethostname()
        logger.error("ALERT %s: %s (%s)", subject, message, host)
        addresses = [address.strip() for address in to.split(",") if address.strip()]
        if not addresses:
            self.stdout.write("No address given (OPS_ALERT_EMAILS is empty): the alert is in the log only.")
            return
        try:
            send_mail(f"[{host}] {subject}", message, settings.DEFAULT_FROM_EMAIL, addresses)
        except OSError as error:
            raise CommandError(f"the alert could not be mailed to {', '.join(addresses)}: {error}") from None
        self.stdout.write(f"Alert mailed to {', '.join(addresses)}.")
