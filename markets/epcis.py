"""A batch's events as a GS1 EPCIS 2.0 JSON-LD document. Pure: plain data in,
a dict out, no database and no settings, so it is tested on its own and reused anywhere. The
step of each batch action is part of the action's declaration (batches/actions.py).

One ObjectEvent per recorded step. The CBV's own words are used where they fit (`receiving`,
`holding`, `sampling`, `inspecting`, `storing`, `commissioning`, `retail_selling`, ...); where
the CBV has none (declaration, disinfection, the rest, quarantine, recall decisions) the
bizStep or disposition is a URI of this system's vocabulary, `https://<host>/voc/bizstep/...`
and `.../voc/disp/...`, as EPCIS 2.0 allows for user vocabularies.

Objects: before codes exist, a `quantityList` per declared line, its class being the line's
GS1 Digital Link with lot (`/01/{gtin}/10/{batch}`) or, without a GTIN, this system's URI of
the line; once coded, an `epcList` of the codes concerned — their Digital Link or `/c/` URLs,
exactly what the labels encode.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from batches.actions import declared

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PREFIX = "wh"  # this system's namespace for extension fields (`wh:batch`, ...)


@dataclass(frozen=True)
class Line:
    id: int
    product_name: str
    gtin: str
    quantity: int
    received_quantity: int | None


@dataclass(frozen=True)
class CodeRef:
    token: str
    item_no: int
    uri: str
    released_at: datetime | None = None


@dataclass(frozen=True)
class Place:
    code: str
    name: str


@dataclass(frozen=True)
class Step:
    """One recorded event of the batch (batches.models.Event), as plain data."""

    id: int
    action: str
    status_before: str
    status_after: str
    role: str
    at: datetime
    warehouse: Place | None = None
    zone: str = ""
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BatchInput:
    number: str
    market: Place
    stall: str
    lines: list[Line]
    codes: list[CodeRef]
    steps: list[Step]


def vocabulary_base(base_url: str) -> str:
    """`https://<host of PUBLIC_BASE_URL>/voc/` — the namespace of this system's own terms."""
    return f"https://{urlsplit(base_url).netloc}/voc/"


# action → (EPCIS action, bizStep, disposition). A bare word is the CBV's; ("bizstep", name) or
# ("disp", name) is this system's vocabulary. A disposition may depend on the event (see below).
# A batch action's step is in its declaration (`epcis`, batches/actions.py); these are the
# events that are not batch actions.
EVENT_STEPS: dict[str, tuple] = {
    "declare": ("ADD", ("bizstep", "declaring"), ("disp", "declared")),
    "sale": ("OBSERVE", "retail_selling", "retail_sold"),
    "sale_void": ("OBSERVE", ("bizstep", "sale_voiding"), None),  # sellable_accessible / recalled
}
# Incident mode (batches.incidents) and evidence photos (batches.attachments).
EVENT_STEPS.update(
    {
        "incident_open": ("OBSERVE", "inspecting", ("disp", "quarantined")),
        "seal": ("OBSERVE", "holding", "non_sellable_other"),
        "lift_seal": ("OBSERVE", ("bizstep", "seal_lifting"), ("disp", "seal_lifted")),
        "attach": ("OBSERVE", ("bizstep", "documenting"), None),
    }
)


class _Steps(Mapping):
    """Every event's step: the declared actions' (read when asked, once the app is ready) and
    EVENT_STEPS."""

    def _table(self) -> dict[str, tuple]:
        return {**{spec.name.value: spec.epcis for spec in declared()}, **EVENT_STEPS}

    def __getitem__(self, action):
        return self._table()[action]

    def __iter__(self):
        return iter(self._table())

    def __len__(self):
        return len(self._table())


STEPS: Mapping[str, tuple] = _Steps()

CODE_ACTIONS = {"release", "sale", "sale_void"}  # these name the codes concerned


def _term(value, voc: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    kind, name = value
    return f"{voc}{kind}/{name}"


def _disposition(step: Step, default):
    if step.action == "arrive":
        if step.status_after == "pre_storage":
            return "conformant"
        mismatches = step.details.get("mismatches") or []
        if mismatches and all(m.get("type_matches") and m.get("spec_matches") for m in mismatches):
            return "mismatch_quantity"
        return "non_conformant"
    if step.action == "test_result":
        result = step.details.get("result")
        if step.status_after == "quarantined":
            return ("disp", "quarantined")
        return "conformant" if result == "negative" else ("unknown" if result == "invalid" else ("disp", "tested"))
    if step.action == "sale_void":
        return "recalled" if step.details.get("codes_now") == "recalled" else "sellable_accessible"
    return default


def local_iso(value: datetime) -> str:
    return value.astimezone(SHANGHAI).isoformat(timespec="milliseconds")


def _offset(value: datetime) -> str:
    text = value.astimezone(SHANGHAI).strftime("%z")  # +0800
    return f"{text[:3]}:{text[3:]}"


def class_uri(*, base_url: str, batch_number: str, line: Line) -> str:
    lot = quote(batch_number, safe="")
    if line.gtin:
        return f"{base_url}/01/{line.gtin.zfill(14)}/10/{lot}"
    return f"{base_url}/id/batch/{lot}/line/{line.id}"


def _objects(
    step: Step, batch: BatchInput, *, base_url: str, coded: bool, by_token: dict, codes_released: dict
) -> dict:
    if step.action == "issue_codes":
        return {"epcList": [code.uri for code in batch.codes]}
    if step.action in CODE_ACTIONS:
        uris = None
        if isinstance(step.details.get("codes"), list):
            named = sorted((by_token[t] for t in step.details["codes"] if t in by_token), key=lambda c: c.item_no)
            uris = [code.uri for code in named]
        elif step.action == "release" and step.details.get("all"):
            uris = codes_released.get(step.at)
        if uris:
            return {"epcList": list(dict.fromkeys(uris))}
    received = coded or step.action not in {"declare", "edit", "submit", "approve", "reject", "revise"}
    quantities = []
    for line in batch.lines:
        quantity = line.received_quantity if received and line.received_quantity is not None else line.quantity
        quantities.append(
            {"epcClass": class_uri(base_url=base_url, batch_number=batch.number, line=line), "quantity": quantity}
        )
    return {"quantityList": quantities}


def _places(step: Step, batch: BatchInput, base_url: str) -> dict:
    if step.action in {"sale", "sale_void"} or step.warehouse is None:
        market = f"{base_url}/id/market/{quote(batch.market.code, safe='')}"
        if step.action in {"sale", "sale_void"}:
            return {"readPoint": {"id": f"{market}/stall/{quote(batch.stall, safe='')}"}, "bizLocation": {"id": market}}
        return {"readPoint": {"id": market}, "bizLocation": {"id": market}}
    warehouse = f"{base_url}/id/warehouse/{quote(step.warehouse.code, safe='')}"
    read_point = f"{warehouse}/zone/{quote(step.zone, safe='')}" if step.zone else warehouse
    return {"readPoint": {"id": read_point}, "bizLocation": {"id": warehouse}}


def object_event(
    step: Step, batch: BatchInput, *, base_url: str, voc: str, coded: bool, by_token: dict, codes_released: dict
) -> dict:
    action, biz_step, disposition = STEPS.get(step.action, ("OBSERVE", ("bizstep", step.action), None))
    event = {
        "type": "ObjectEvent",
        "eventID": f"{base_url}/id/event/{step.id}",
        "eventTime": local_iso(step.at),
        "recordTime": local_iso(step.at),
        "eventTimeZoneOffset": _offset(step.at),
        "action": action,
        **_objects(step, batch, base_url=base_url, coded=coded, by_token=by_token, codes_released=codes_released),
        "bizStep": _term(biz_step, voc),
    }
    disposition = _term(_disposition(step, disposition), voc)
    if disposition:
        event["disposition"] = disposition
    event.update(_places(step, batch, base_url))
    event[f"{PREFIX}:batch"] = batch.number
    event[f"{PREFIX}:step"] = step.action
    event[f"{PREFIX}:status"] = step.status_after
    event[f"{PREFIX}:role"] = step.role
    details = {name: value for name, value in step.details.items() if name != "codes"}
    if details:
        event[f"{PREFIX}:details"] = details
    return event


def _master_data(batch: BatchInput, base_url: str) -> dict:
    warehouses = {step.warehouse.code: step.warehouse.name for step in batch.steps if step.warehouse}
    locations = [
        {
            "id": f"{base_url}/id/market/{quote(batch.market.code, safe='')}",
            "attributes": [{"id": "urn:epcglobal:cbv:mda#name", "attribute": batch.market.name}],
        }
    ]
    locations += [
        {
            "id": f"{base_url}/id/warehouse/{quote(code, safe='')}",
            "attributes": [{"id": "urn:epcglobal:cbv:mda#name", "attribute": name}],
        }
        for code, name in sorted(warehouses.items())
    ]
    return {
        "epcisMasterData": {
            "vocabularyList": [
                {"type": "urn:epcglobal:epcis:vtype:BusinessLocation", "vocabularyElementList": locations},
            ]
        }
    }


def epcis_document(*, batch: BatchInput, base_url: str, created: datetime) -> dict:
    """The EPCISDocument of one batch: its steps in order, one ObjectEvent each."""
    base_url = base_url.rstrip("/")
    voc = vocabulary_base(base_url)
    by_token = {code.token: code for code in batch.codes}
    codes_released: dict[datetime, list[str]] = {}
    for code in batch.codes:
        if code.released_at is not None:
            codes_released.setdefault(code.released_at, []).append(code.uri)
    coded = False
    events = []
    for step in batch.steps:
        coded = coded or step.action == "issue_codes"
        events.append(
            object_event(
                step, batch, base_url=base_url, voc=voc, coded=coded, by_token=by_token, codes_released=codes_released
            )
        )
    return {
        "@context": [EPCIS_CONTEXT, {PREFIX: voc}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "id": f"{base_url}/id/batch/{quote(batch.number, safe='')}/epcis/{int(created.timestamp())}",
        "epcisHeader": _master_data(batch, base_url),
        "epcisBody": {"eventList": events},
    }
