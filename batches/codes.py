"""Reading what a scanner sends: a bare code token, a `/c/{token}` URL, or a GS1 Digital Link
URI (`/01/{gtin}/10/{batch number}/21/{serial}`) — any form the labels carry."""

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.db.models import Q

from .gs1 import gtin14
from .models import Code

TOKEN_RE = re.compile(r"^[A-Z2-7]{24}$")
DIGITAL_LINK_RE = re.compile(r"/01/(?P<gtin>\d{14})/10/(?P<lot>[^/]+)/21/(?P<serial>\d+)/?$")
C_PATH_RE = re.compile(r"/c/(?P<token>[A-Za-z2-7]{24})/?$")


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
    if match := DIGITAL_LINK_RE.search(path):
        return CodeRef(gtin=match["gtin"], lot=match["lot"], serial=int(match["serial"]))
    return None


def codes_for_scans(values: list[str], queryset=None) -> dict[str, Code | None]:
    """Each scanned value → its Code (None if unknown), in one query."""
    refs = {value: parse_code_scan(value) for value in values}
    condition = Q(pk__in=[])
    for ref in filter(None, refs.values()):
        if ref.token:
            condition |= Q(token=ref.token)
        else:
            condition |= Q(batch__number=ref.lot, serial=ref.serial)
    queryset = queryset if queryset is not None else Code.objects.all()
    rows = list(queryset.filter(condition).select_related("batch", "line"))
    by_token = {code.token: code for code in rows}
    by_serial = {(code.batch.number, code.serial): code for code in rows}
    found = {}
    for value, ref in refs.items():
        code = None
        if ref and ref.token:
            code = by_token.get(ref.token)
        elif ref:
            code = by_serial.get((ref.lot, ref.serial))
            if code is not None and gtin14(code.line.gtin or "0") != ref.gtin:
                code = None
        found[value] = code
    return found
