"""Reading what a scanner sends: a bare code token, a `/c/{token}` URL, or a GS1 Digital Link
URI (`/01/{gtin}/10/{batch number}/21/{serial}`) — any form the labels carry."""

import re
from collections import defaultdict
from dataclasses import dataclass
from itertools import islice
from urllib.parse import unquote, urlsplit

from .gs1 import gtin14
from .models import Code

TOKEN_RE = re.compile(r"^[A-Z2-7]{24}$")
# Digital Link carries the GTIN as 14 digits; shorter GTIN-8/12/13 are accepted and padded.
# ASCII digits only, and a serial short enough for int() and the database's integer column.
DIGITAL_LINK_RE = re.compile(
    r"/01/(?P<gtin>[0-9]{14}|[0-9]{12,13}|[0-9]{8})/10/(?P<lot>[^/]+)/21/(?P<serial>[0-9]{1,10})/?$")
# The largest serial a Code can hold (a PositiveIntegerField: 32-bit on every database).
MAX_SERIAL = 2**31 - 1
C_PATH_RE = re.compile(r"/c/(?P<token>[A-Za-z2-7]{24})/?$")

# Values looked up per query: far below SQLite's limit on bound parameters.
LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class CodeRef:
    """What a scan names: a token, or a (gtin, lot, serial) triple from a Digital Link."""

    token: str = ""
    gtin: str = ""
    lot: str = ""
    serial: int = 0


def parse_code_scan(value: str) -> CodeRef | None:
    value = (value or "").strip()
    if TOKEN_RE.match(value.upper()) and "/" not in value:
        return CodeRef(token=value.upper())
    path = unquote(urlsplit(value).path if "://" in value else value)
    if match := C_PATH_RE.search(path):
        return CodeRef(token=match["token"].upper())
    if (match := DIGITAL_LINK_RE.search(path)) and int(match["serial"]) <= MAX_SERIAL:
        return CodeRef(gtin=gtin14(match["gtin"]), lot=match["lot"], serial=int(match["serial"]))
    return None


def _chunks(values, size=LOOKUP_CHUNK):
    values = iter(values)
    while chunk := list(islice(values, size)):
        yield chunk


def codes_for_scans(values: list[str], queryset=None) -> dict[str, Code | None]:
    """Each scanned value → its Code (None if unknown or outside `queryset`).

    A few queries whatever the number of values: tokens are looked up `LOOKUP_CHUNK` at a
    time, Digital Link serials per batch number. A Digital Link whose GTIN is not the line's
    names no code."""
    refs = {value: parse_code_scan(value) for value in values}
    tokens = sorted({ref.token for ref in refs.values() if ref and ref.token})
    serials_by_lot = defaultdict(set)
    for ref in refs.values():
        if ref and not ref.token:
            serials_by_lot[ref.lot].add(ref.serial)

    queryset = (queryset if queryset is not None else Code.objects.all()).select_related("batch", "line")
    by_token, by_serial = {}, {}
    for chunk in _chunks(tokens):
        by_token.update((code.token, code) for code in queryset.filter(token__in=chunk))
    for lot, serials in serials_by_lot.items():
        for chunk in _chunks(sorted(serials)):
            rows = queryset.filter(batch__number=lot, serial__in=chunk)
            by_serial.update(((lot, code.serial), code) for code in rows)

    found = {}
    for value, ref in refs.items():
        code = None
        if ref and ref.token:
            code = by_token.get(ref.token)
        elif ref:
            code = by_serial.get((ref.lot, ref.serial))
            if code is not None and (not code.line.gtin or gtin14(code.line.gtin) != ref.gtin):
                code = None
        found[value] = code
    return found
