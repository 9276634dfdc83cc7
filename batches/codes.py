"""Reading what a scanner sends: a bare code token, a `/c/{token}` URL, or a GS1 Digital Link
URI (`/01/{gtin}/10/{batch number}/21/{serial}`) — any form the labels carry.

A URL counts as a code only on our own host: the host of PUBLIC_BASE_URL or one listed in
CODE_URL_HOSTS (SPEC §4). A counterfeit label that points elsewhere (`http://evil.example/c/…`)
names no code, even when the token in it is real, so a copied token on a foreign page never
looks genuine to the scanner.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from urllib.parse import unquote, urlsplit

from django.conf import settings

from config.compiled import CompiledUpdate, ScopedQuery

from .gs1 import GTIN_LENGTHS, gtin14
from .models import Code, CodeStatus

TOKEN_RE = re.compile(r"^[A-Z2-7]{24}$")
# GS1 AI 21 serials as we issue them: 16 base32 characters (80 random bits). Base32's
# alphabet lies inside GS1's AI 21 character set and needs no escaping in a URL.
SERIAL_LENGTH = 16
SERIAL_RE = re.compile(rf"^[A-Z2-7]{{{SERIAL_LENGTH}}}$")
# Digital Link carries the GTIN as 14 digits; shorter GTIN-8/12/13 are accepted and padded.
DIGITAL_LINK_RE = re.compile(
    r"^/01/(?P<gtin>[0-9]{14}|[0-9]{12,13}|[0-9]{8})/10/(?P<lot>[^/]+)"
    rf"/21/(?P<serial>[A-Za-z2-7]{{{SERIAL_LENGTH}}})/?$"
)
C_PATH_RE = re.compile(r"^/c/(?P<token>[A-Za-z2-7]{24})/?$")
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LOT_LENGTH = 40  # a batch number

# Values looked up per query: far below SQLite's limit on bound parameters.
LOOKUP_CHUNK = 500
# A database without such a limit (PostgreSQL) takes the API's longest list in one query, so a
# release or a sale costs the same number of queries whatever its size.
UNLIMITED_CHUNK = 100_000


def lookup_chunk() -> int:
    """Values per IN list on the default database (see LOOKUP_CHUNK, UNLIMITED_CHUNK)."""
    from django.db import connection

    return LOOKUP_CHUNK if connection.features.max_query_params else UNLIMITED_CHUNK


@dataclass(frozen=True)
class CodeRef:
    """What a scan names: a token, or a (gtin, lot, serial) triple from a Digital Link."""

    token: str = ""
    gtin: str = ""
    lot: str = ""
    serial: str = ""


def _host_port(scheme: str, text: str) -> tuple[str, int] | None:
    """("localhost", 8000) for "localhost:8000"; the scheme's default port where none is given."""
    try:
        parts = urlsplit(f"{scheme}://{text}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def code_url_origins() -> frozenset[tuple[str, str, int]]:
    """(scheme, host, port) that our code URLs may carry: PUBLIC_BASE_URL's origin, and each
    host of CODE_URL_HOSTS over http and https (e.g. the address the crew uses on the LAN)."""
    return _origins(settings.PUBLIC_BASE_URL, tuple(settings.CODE_URL_HOSTS))


@lru_cache(maxsize=8)  # parsed once per configuration, not once per scanned value
def _origins(public_base_url: str, code_url_hosts: tuple[str, ...]) -> frozenset[tuple[str, str, int]]:
    base = urlsplit(public_base_url)
    scheme = base.scheme.lower() if base.scheme.lower() in DEFAULT_PORTS else "https"
    origins = set()
    if (own := _host_port(scheme, base.netloc)) is not None:
        origins.add((scheme, *own))
    for entry in code_url_hosts:
        for other in DEFAULT_PORTS:
            if (host := _host_port(other, entry)) is not None:
                origins.add((other, *host))
    return frozenset(origins)


def _own_path(value: str) -> str | None:
    """The path of a scanned URL if it is ours (scheme http/https, a code host, no user part),
    else None. A value with no scheme and no host is a path on our own host."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme or parts.netloc:
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or parts.username is not None or parts.password is not None:
            return None
        origin = (scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS[scheme])
        if origin not in code_url_origins():
            return None
    path = unquote(parts.path)
    # Where PUBLIC_BASE_URL has a path (served under a prefix), code paths sit below it.
    prefix = urlsplit(settings.PUBLIC_BASE_URL).path.rstrip("/")
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    return path


def parse_code_scan(value: str) -> CodeRef | None:
    value = (value or "").strip()
    if TOKEN_RE.match(value.upper()) and "/" not in value:
        return CodeRef(token=value.upper())
    path = _own_path(value)
    if path is None:
        return None
    if match := C_PATH_RE.match(path):
        return CodeRef(token=match["token"].upper())
    if match := DIGITAL_LINK_RE.match(path):
        return digital_link_ref(gtin=match["gtin"], lot=match["lot"], serial=match["serial"])
    return None


def digital_link_ref(*, gtin: str, lot: str, serial: str) -> CodeRef | None:
    """The triple of a Digital Link path, or None if it cannot name one of our codes."""
    serial = serial.upper()
    if not (gtin.isascii() and gtin.isdigit() and len(gtin) in GTIN_LENGTHS):
        return None
    if not SERIAL_RE.match(serial) or len(lot) > MAX_LOT_LENGTH:
        return None
    return CodeRef(gtin=gtin14(gtin), lot=lot, serial=serial)


def _chunks(values, size=None):
    size = size or lookup_chunk()
    values = iter(values)
    while chunk := list(islice(values, size)):
        yield chunk


# A sale names a handful of codes: the look-up of up to COMPILED_TOKENS tokens in a batch scope
# is built once per count and scope lookup (config/compiled.py), and reads the code rows alone
# (their batch and line are not needed to name them by token); longer lists go through the ORM.
COMPILED_TOKENS = 20


@lru_cache(maxsize=COMPILED_TOKENS)
def _tokens_in_scope(count: int) -> ScopedQuery:
    names = [f"t{i}" for i in range(count)]
    return ScopedQuery(
        Code,
        lambda scope, **tokens: Code.objects.filter(token__in=[tokens[name] for name in names], **scope).order_by(),
        via="batch__",
        **{name: f"\x00{name}" for name in names},  # tokens never contain a NUL
    )


def codes_for_refs(refs: dict, queryset=None, *, scope: tuple[str, object] | None = None) -> dict:
    """Each key's CodeRef (or None) → its Code, None if unknown or outside `queryset` — or,
    given `scope` instead (batches.actors.batch_scope), outside the batches it names; then a
    code found by its token may come without its batch and line loaded (read `batch_id`).

    A few queries whatever the number of values: tokens and Digital Link serials are each looked
    up `LOOKUP_CHUNK` at a time. A Digital Link resolves only if its whole triple is real: the
    serial, the batch number it was issued in and the GTIN of its line — a guessed or
    half-right path names no code."""
    tokens = sorted({ref.token for ref in refs.values() if ref and ref.token})
    serials = sorted({ref.serial for ref in refs.values() if ref and not ref.token})

    by_token, by_serial = {}, {}
    if scope is not None and 0 < len(tokens) <= COMPILED_TOKENS:
        found = _tokens_in_scope(len(tokens))(scope, **{f"t{i}": token for i, token in enumerate(tokens)})
        by_token.update((code.token, code) for code in found)
        tokens = []
    if tokens or serials:
        if scope is not None:
            lookup, value = scope
            queryset = Code.objects.filter(**{f"batch__{lookup}": value})
        # No ORDER BY: the rows go into dictionaries (Code's ordering would join and sort for nothing).
        queryset = (queryset if queryset is not None else Code.objects.all()).select_related("batch", "line").order_by()
    for chunk in _chunks(tokens):
        by_token.update((code.token, code) for code in queryset.filter(token__in=chunk))
    for chunk in _chunks(serials):
        by_serial.update((code.serial, code) for code in queryset.filter(serial__in=chunk))

    found = {}
    for key, ref in refs.items():
        code = None
        if ref and ref.token:
            code = by_token.get(ref.token)
        elif ref:
            code = by_serial.get(ref.serial)
            if code is not None and not names_code(ref, code):
                code = None
        found[key] = code
    return found


def names_code(ref: CodeRef, code: Code) -> bool:
    """Whether a Digital Link triple is exactly this code's (needs `code.batch` and `code.line`)."""
    return (
        ref.serial == code.serial
        and ref.lot == code.batch.number
        and bool(code.line.gtin)
        and gtin14(code.line.gtin) == ref.gtin
    )


def codes_for_scans(values: list[str], queryset=None, *, scope=None) -> dict[str, Code | None]:
    """Each scanned value → its Code (None if unknown, on a foreign host or outside `queryset`
    or `scope`, as codes_for_refs)."""
    return codes_for_refs({value: parse_code_scan(value) for value in values}, queryset=queryset, scope=scope)


# --- the codes' own lifecycle ---------------------------------------------------------------

# (from, to): the action that makes the move. Nothing else changes a code's status.
CODE_MOVES = {
    (CodeStatus.IN_WAREHOUSE, CodeStatus.RELEASED): "release",
    (CodeStatus.RELEASED, CodeStatus.SOLD): "sale",
    (CodeStatus.SOLD, CodeStatus.RELEASED): "sale_void",
    (CodeStatus.SOLD, CodeStatus.RECALLED): "sale_void",  # of a batch recalled since the sale
    (CodeStatus.IN_WAREHOUSE, CodeStatus.RECALLED): "recall",
    (CodeStatus.RELEASED, CodeStatus.RECALLED): "recall",
}


class IllegalCodeMove(ValueError):
    """A service asked for a move of code statuses that CODE_MOVES does not list: a bug."""


# A move of a few codes named by primary key from one status (a sale's): its UPDATE is built
# once per process and number of codes (config/compiled.py).
COMPILED_MOVES = 20


@lru_cache(maxsize=COMPILED_MOVES)
def _compiled_move(count: int) -> CompiledUpdate:
    names = [f"c{i}" for i in range(count)]
    return CompiledUpdate(
        Code,
        lambda source, target, **ids: (
            Code.objects.filter(pk__in=[ids[name] for name in names], status=source),
            {"status": target},
        ),
        source="\x00source",
        target="\x00target",
        **{name: -1 - i for i, name in enumerate(names)},  # no primary key is negative
    )


def move_codes(codes, *, source, target: str, **fields) -> int:
    """Move the codes of `codes` (a queryset or manager, or the codes' primary keys) that are in
    `source` (a status or several) to `target`, in one conditional UPDATE; returns how many
    moved. The callers hold the batch's row lock."""
    sources = {source} if isinstance(source, str) else set(source)
    illegal = sorted(status for status in sources if (status, target) not in CODE_MOVES)
    if illegal or not sources:
        raise IllegalCodeMove(f"codes may not move from {illegal or 'nothing'} to {target}")
    if not hasattr(codes, "filter"):  # not a queryset nor a manager: primary keys
        ids = sorted(codes)
        if not fields and len(sources) == 1 and 0 < len(ids) <= COMPILED_MOVES:
            (status,) = sources
            return _compiled_move(len(ids))(source=status, target=target, **{f"c{i}": pk for i, pk in enumerate(ids)})
        codes = Code.objects.filter(pk__in=ids)
    return codes.filter(status__in=sources).update(status=target, **fields)
