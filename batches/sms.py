"""Text messages to buyers (incident notifications). The backend is a setting, SMS_BACKEND: a
class with `send(phone, text)`; it raises on a failure so that the outbox tries again. The
default writes the message to the log, which is what a laptop and the tests need; a bureau
plugs in its SMS gateway's client the same way (docs: README "Incident mode")."""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

from markets.models import mask_mobile

logger = logging.getLogger("batches.sms")


class ConsoleSMSBackend:
    """Logs each message (the phone masked) instead of sending it."""

    def send(self, phone: str, text: str) -> None:
        logger.info("SMS to %s: %s", mask_mobile(phone), text)


class MemorySMSBackend:
    """Keeps the messages in `outbox` (a class attribute): for tests."""

    outbox: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        type(self).outbox.append((phone, text))


def sms_backend():
    """The configured SMS backend (SMS_BACKEND, a dotted path to a class)."""
    return import_string(settings.SMS_BACKEND)()
