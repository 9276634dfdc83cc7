"""`Idempotency-Key` on POST actions (R7): the same key replays the first answer and the
action is done once. The action and the stored answer commit together. Records are deleted
after IDEMPOTENCY_TTL_HOURS (`batches.tasks.purge_idempotency_records`)."""

import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ..models import IdempotencyRecord

HEADER = "Idempotency-Key"


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _replay(view, request, record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        return Response(
            {"detail": "This Idempotency-Key was used for a different request.", "code": "idempotency_key_reused"},
            status=422,
        )
    body = record.body
    if rebuild := getattr(view, "replayed_body", None):
        body = rebuild(request, body)
    return Response(body, status=record.status_code, headers={"Idempotent-Replayed": "true"})


def _stored_body(view, body):
    """What the record keeps of the answer. No personal data: a view whose answer holds some
    (`stored_body`) keeps a mark instead, and rebuilds that part at replay (`replayed_body`)."""
    if keep := getattr(view, "stored_body", None):
        return keep(body)
    return body


def run_idempotent(view, request, act) -> Response:
    """Run `act()` (which returns a Response or raises) under the request's key, if any."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return act()
    if len(key) > 200:
        return Response({HEADER: ["At most 200 characters."]}, status=400)
    fingerprint = _fingerprint(request)
    existing = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
    if existing:
        return _replay(view, request, existing, fingerprint)
    try:
        with transaction.atomic():
            try:
                response = act()
            except Exception as exc:  # answered like any error, and remembered as the first answer
                response = view.handle_exception(exc)
            if response.status_code >= 500:
                return response
            body = _stored_body(view, json.loads(JSONRenderer().render(response.data) or b"null"))
            try:
                with transaction.atomic():
                    IdempotencyRecord.objects.create(
                        user=request.user, key=key, fingerprint=fingerprint, status_code=response.status_code, body=body
                    )
            except IntegrityError:
                raise _Raced from None  # undo what act() did: the other request's answer stands
    except _Raced:
        return _replay(view, request, IdempotencyRecord.objects.get(user=request.user, key=key), fingerprint)
    return response


class _Raced(Exception):
    """The same key was committed by a concurrent request first."""
