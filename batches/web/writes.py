"""Field writes done once (docs/web.md, "Field writes and the device queue").

Each form of a field page (sell, release, arrival check, disinfection, sample, result, photo)
carries a key made when the form is shown (`{% write_key %}`, batches/templatetags/writes.py);
the device queue of app.js sends the same key as the `Idempotency-Key` header. The write and
the record of its result commit together, under that key (`IdempotencyRecord`, as the API's
`Idempotency-Key`): the same key again — a resubmit after a lost answer, the queue's retry —
shows the first result ("sold at 10:42, sale no. 2"), and nothing is done twice. A refusal
keeps no record: nothing was done, so the same form may be corrected and sent again.

The queue asks with `X-Field-Queue: now` (the person waits on the page: the answer is said with
the next page, as without the script) or `later` (sent in the background: the answer is shown
in the queue's list); it is answered in JSON. `X-Field-User` names the user who queued the
write: a write queued by someone else is never done under this session.
"""

import hashlib
from datetime import datetime

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.utils import dateformat, timezone
from django.utils.translation import gettext as _

from ..actions import REGISTRY
from ..models import IdempotencyRecord
from .common import flatten_errors

FIELD = "idempotency_key"  # the form's hidden input (the same name in batches/templatetags/writes.py)
HEADER = "Idempotency-Key"
QUEUE_HEADER = "X-Field-Queue"
USER_HEADER = "X-Field-User"
KIND = "page"  # marks a page's record apart from the API's (which keeps the API's answer)


def key_of(request) -> str:
    return (request.headers.get(HEADER) or request.POST.get(FIELD, "")).strip()[:200]


def queued(request) -> str:
    """ "now" or "later" when the device queue sent this request, "" for a plain form."""
    mode = request.headers.get(QUEUE_HEADER, "")
    return mode if mode in ("now", "later") else ""


def _fingerprint(request) -> str:
    fields = sorted(
        (name, value)
        for name in request.POST
        if name not in ("csrfmiddlewaretoken", FIELD)
        for value in request.POST.getlist(name)
    )
    files = sorted((name, f.name, f.size) for name in request.FILES for f in request.FILES.getlist(name))
    return hashlib.sha256(f"PAGE {request.path}\n{fields}\n{files}".encode()).hexdigest()


def guard(request):
    """What a field write answers before anything is done, or None to go on: a queued write of
    another person (never done under this session), or the first result of this key again."""
    if queued(request) and request.headers.get(USER_HEADER, "") != str(request.user.pk):
        return JsonResponse(
            {"outcome": "not_yours", "message": _("Queued by another person: kept for them.")}, status=409
        )
    key = key_of(request)
    if not key:
        return None
    record = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
    return None if record is None else _replay(request, record)


def _replay(request, record):
    result = record.body
    if not (isinstance(result, dict) and result.get(KIND)):  # the key of an API request
        text = _("This form was already used for another request. Open the page again.")
        if queued(request):
            return JsonResponse({"outcome": "refused", "message": text, "errors": []}, status=422)
        messages.error(request, text)
        return HttpResponseRedirect(request.path)
    return done(request, result, replayed=True)


def once(request, act) -> tuple[dict, bool]:
    """Run `act()` (the write; it returns the result to keep, with `next`, the page to go to)
    once per key: (result, False) when done now, (the first result, True) when the key was
    done before — by a concurrent request too, whose record this one waits for. `act()`
    raising undoes everything, the record included."""
    key = key_of(request)
    if not key:
        return act(), False
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    user=request.user, key=key, fingerprint=_fingerprint(request), status_code=200, body=None
                )
        except IntegrityError:  # done (or being done) by another request with this key
            record = None
        if record is not None:
            result = act()
            record.body = {KIND: True, **result}
            record.save(update_fields=["body"])
            return record.body, False
    return IdempotencyRecord.objects.get(user=request.user, key=key).body, True


def done(request, result: dict, *, replayed=False, flash=None):
    """The answer after a write: the page goes to `next` with the flash (the first time) or
    the first result (a replay); the queue gets both in JSON."""
    text = describe(result)
    level, shown = (messages.SUCCESS, text) if replayed or flash is None else flash
    mode = queued(request)
    if mode != "later":  # said on the next page the person sees
        messages.add_message(request, level, shown)
    if mode:
        return JsonResponse({"outcome": "done", "replayed": replayed, "message": text, "next": result["next"]})
    return HttpResponseRedirect(result["next"])


def refused(request, status: int, *, message="", errors=()):
    """A refused write, to the queue (the page answers the plain form itself)."""
    message = message or _("Not accepted: correct the form and send it again.")
    return JsonResponse({"outcome": "refused", "message": message, "errors": [str(e) for e in errors]}, status=status)


def form_errors(form) -> list[str]:
    """A bound form's (or formset's) errors as lines a person can read."""
    if form is None:
        return []
    if hasattr(form, "forms"):  # a formset
        lines = [str(e) for e in form.non_form_errors()]
        for one in form.forms:
            lines.extend(form_errors(one))
        return lines
    lines = []
    for name, problems in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        lines.extend(flatten_errors({str(label) if label else "__all__": list(problems)}))
    return lines


def _when(at: str) -> str:
    moment = timezone.localtime(datetime.fromisoformat(at))
    same_day = moment.date() == timezone.localdate()
    return dateformat.format(moment, "H:i" if same_day else "Y-m-d H:i")


def describe(result: dict) -> str:
    """The result in words, from what the record keeps (no personal data)."""
    when = _when(result["at"])
    page = result.get("kind")
    if page == "sale":
        return _("Sold at %(time)s: sale no. %(id)s (%(count)d items).") % {
            "time": when,
            "id": result["sale"],
            "count": result["count"],
        }
    if page == "release":
        return _("Released at %(time)s: %(count)d codes of batch %(number)s.") % {
            "time": when,
            "count": result["count"],
            "number": result["number"],
        }
    if page == "photo":
        return _("Attached at %(time)s: a photo to batch %(number)s.") % {"time": when, "number": result["number"]}
    number = {"number": result.get("number", "")}
    spec = REGISTRY.get(result.get("action", ""))
    if result.get("outcome") == "positive":
        what = _("Positive result: batch %(number)s is quarantined and the regulators are alerted.") % number
    elif result.get("outcome") == "discrepancy":
        what = (
            _("Batch %(number)s does not match its declaration: it waits in pre-storage for a re-check or return.")
            % number
        )
    else:
        what = spec.done % number if spec is not None and spec.done else number["number"]
    return _("Recorded at %(time)s: %(what)s") % {"time": when, "what": what}
