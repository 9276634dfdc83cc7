"""Template helpers of the declaration's papers and its country (docs/web.md "Papers with the
declaration")."""

from django import template
from django.utils.translation import gettext as _

from ..countries import UNKNOWN, country_name
from ..papers import papers_of as batch_papers

register = template.Library()


@register.filter
def country(batch) -> str:
    """The batch's country of origin as people read it: 「意大利（IT）」; for an older declaration
    whose free text named no country, what it said."""
    code = getattr(batch, "origin_country", "") or ""
    if code == UNKNOWN:
        declared = getattr(batch, "origin_country_declared", "")
        return _("Unknown (declared as “%(text)s”)") % {"text": declared} if declared else country_name(code)
    name = country_name(code)
    return _("%(name)s (%(code)s)") % {"name": name, "code": code} if name != code else code


@register.simple_tag
def papers_of(batch) -> dict:
    """The batch's papers as the pages show them (batches.papers.papers_of)."""
    return batch_papers(batch)


@register.filter
def country_code_name(code) -> str:
    """A country's name from its code, in the interface's language (the public page)."""
    return country_name(code or "")
