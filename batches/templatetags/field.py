"""Template helpers of the field pages: people by name, and what comes next on a batch card."""

from django import template
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from markets.models import person_name

from ..models import Status

register = template.Library()


@register.filter
def person(user) -> str:
    """A person as people know them: the full name, the login id only if none is set."""
    return person_name(user) if user else ""


@register.simple_tag
def next_step(batch, samples) -> dict:
    """After a test result the card says what happens next instead of offering another sample:
    `{"text", "negative"}` (empty text when there is nothing to add)."""
    negative = any(
        s.cycle == batch.cycle and any(r.result == "negative" for r in s.results.all()) for s in samples or ()
    )
    text = ""
    if batch.status == Status.RESTING and negative:
        text = _("Negative result recorded. Next: when the rest period is over, move the batch to the storage zone.")
    elif batch.status == Status.REST_COMPLETE:
        text = _("Rest period over. Next: move the batch to the storage zone.")
    elif batch.status == Status.QUARANTINED:
        text = _(
            "Positive result: the batch stays in quarantine until the regulator decides (disinfect again or destroy)."
        )
    elif batch.status == Status.STORED:
        text = _("Next: issue the codes and print the labels.")
    return {"text": text, "negative": negative}


@register.filter
def ago(moment) -> str:
    """「刚刚」 under a minute, else "3 hours ago" (never "0 minutes ago")."""
    if not moment:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return _("just now")
    return _("%(since)s ago") % {"since": timesince(moment)}


@register.simple_tag
def colon() -> str:
    """The colon between a label and its value: full-width in Chinese, ASCII and a space in
    English. The same msgid is Django's form label suffix, so the form labels follow."""
    mark = _(":")
    return mark if mark != ":" else ": "
