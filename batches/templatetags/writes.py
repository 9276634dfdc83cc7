"""`{% write_key %}`: the hidden key of a field form, made when the form is shown, so that the
write it sends is done once however often it is sent (batches/web/writes.py, docs/web.md)."""

import uuid

from django import template
from django.conf import settings
from django.utils.html import format_html

register = template.Library()

FIELD = "idempotency_key"  # batches.web.writes.FIELD (the layers keep the two modules apart)


@register.simple_tag
def write_key() -> str:
    return format_html('<input type="hidden" name="{}" value="{}" data-write-key>', FIELD, uuid.uuid4().hex)


# The batch card's field records, sent through the device queue (app.js): a weak network never
# loses them. Other actions of the card carry a key too, and are sent as plain forms.
QUEUED_ACTIONS = frozenset({"arrive", "disinfect", "sample", "test_result", "release"})


@register.filter
def queued(action) -> bool:
    return str(action) in QUEUED_ACTIONS


@register.simple_tag
def queue_ttl() -> int:
    """How long (s) a write may wait on the device: an hour less than the server keeps its key
    (IDEMPOTENCY_TTL_HOURS, at least half of it), so that it is never sent after the key is
    forgotten and could be done twice."""
    keep = settings.IDEMPOTENCY_TTL_HOURS * 3600
    return max(keep // 2, keep - 3600)
