"""Template helpers of the field pages: people by name, times, the colon (what comes next on a batch
card: batches/web/next_step.py)."""

from django import template
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _

from markets.models import person_name

register = template.Library()


@register.filter
def person(user) -> str:
    """A person as people know them: the full name, the login id only if none is set."""
    return person_name(user) if user else ""


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
