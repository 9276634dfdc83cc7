"""`manage.py ops_alert --subject S --message M`: an alert about the installation itself (a failed
backup: deploy/systemd/warehouse-backup-failed.service). Logged as an error (the journal keeps
it) and mailed to OPS_ALERT_EMAILS through the app's own mail settings. Exit status 1 when the
mail could not be sent, so that systemd shows the alert itself failed."""

import logging
import socket

from django.conf import settings
from django.core.mail import send_mail
from django.core.management.base import BaseCommand, CommandError

logger = logging.getLogger("warehouse.ops")


class Command(BaseCommand):
    help = "Log an alert about the installation and mail it to OPS_ALERT_EMAILS."

    def add_arguments(self, parser):
        parser.add_argument("--subject", required=True)
        parser.add_argument("--message", required=True)

    def handle(self, *args, subject: str, message: str, **options):
        host = socket.gethostname()
        logger.error("ALERT %s: %s (%s)", subject, message, host)
        if not settings.OPS_ALERT_EMAILS:
            self.stdout.write("OPS_ALERT_EMAILS is empty: the alert is in the log only.")
            return
        try:
            send_mail(f"[{host}] {subject}", message, settings.DEFAULT_FROM_EMAIL, settings.OPS_ALERT_EMAILS)
        except OSError as error:
            raise CommandError(
                f"the alert could not be mailed to {', '.join(settings.OPS_ALERT_EMAILS)}: {error}"
            ) from None
        self.stdout.write(f"Alert mailed to {', '.join(settings.OPS_ALERT_EMAILS)}.")
