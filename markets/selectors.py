"""Selectors: what sales and the regulator's trace read (SPEC §2, §4).

Every queryset starts from a scope function — `visible_sales` and `visible_merchants` here,
`visible_batches` / `visible_codes` in batches.actors — so no endpoint can forget the scope.
A buyer's phone is shown through `shown_phone`: in full to regulators only (docs/contract.md §5).
Each trace reads a fixed number of queries whatever the size of the batch.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections
from django.db.models import Count, Max, Min, Prefetch, Q, QuerySet
from rest_framework import serializers

from batches.actions import Capability, may
from batches.actors import Actor, in_district, visible_batches, visible_codes
from batches.codes import TOKEN_RE, CodeRef, codes_for_scans, parse_code_scan
from batches.gs1 import gtin14
from batches.lifecycle import allowed_actions
from batches.models import Batch, CodeStatus, Role
from batches.models import Status as BatchStatus
from batches.services import code_url
from batches.shapes import BatchDetail, DisinfectionOutput, LineOutput, ResultOutput, SampleOutput
from config.replica import read_alias
from warehouse.models import ZoneKind

from . import epcis
from .exports import SALES_HEADER
from .models import BuyerKind, Merchant, Sale, SaleItem, mask_mobile, normalize_mobile

SHANGHAI = ZoneInfo("Asia/Shanghai")
SALE_ACTIONS = ("sale", "sale_void")
SEARCH_LIMIT = 20


def local_iso(value: datetime | None) -> str | None:
    """R8: stored in UTC, shown in Asia/Shanghai."""
    return value.astimezone(SHANGHAI).isoformat() if value else None


# --- scope ----------------------------------------------------------------------------------


def visible_sales(actor: Actor | None) -> QuerySet[Sale]:
    """A merchant sees own sales; a regulator the sales of the district; nobody else any."""
    sales = Sale.objects.all()
    if actor is None:
        return sales.none()
    if actor.role == Role.MERCHANT:
        return sales.filter(merchant=actor.merchant)
    if actor.role == Role.REGULATOR:
        return sales.filter(in_district(actor, "merchant__market__district_id"))
    return sales.none()


def visible_merchants(actor: Actor | None) -> QuerySet[Merchant]:
    """Merchants the actor may know of: self (merchant), own market (reviewer), those with
    batches in own warehouse (operator), the district (regulator)."""
    merchants = Merchant.objects.all()
    if actor is None:
        return merchants.none()
    if actor.role == Role.MERCHANT:
        return merchants.filter(pk=actor.merchant.pk)
    if actor.role == Role.REVIEWER:
        return merchants.filter(market=actor.market)
    if actor.role == Role.OPERATOR:
        return merchants.filter(pk__in=visible_batches(actor).values("merchant_id"))
    if actor.role == Role.REGULATOR:
        return merchants.filter(in_district(actor, "market__district_id"))
    return merchants.none()


def shown_phone(actor: Actor | None, phone: str) -> str:
    """Buyer phones in full to regulators only; masked (`138****0001`) to everyone else."""
    if not phone:  # anonymised (markets.retention)
        return ""
    return phone if may(actor, Capability.SEE_BUYER_PHONES) else mask_mobile(phone)


# --- sales ----------------------------------------------------------------------------------


def sales_with_codes(queryset: QuerySet[Sale]) -> QuerySet[Sale]:
    return queryset.select_related("merchant").prefetch_related(
        Prefetch(
            "items",
            queryset=SaleItem.objects.select_related("code")
            .only("id", "sale_id", "voided", "code__token")
            .order_by("code_id"),
        )
    )


def sale_output(sale: Sale, actor: Actor | None) -> dict:
    """The sale as SaleOutput shows it: `sale` read by sales_with_codes(), or just recorded by
    sale_record() (which leaves its codes in `sold_tokens`; its merchant is the seller's)."""
    sold = getattr(sale, "sold_tokens", None)
    return {
        "id": sale.pk,
        "codes": sold if sold is not None else [item.code.token for item in sale.items.all()],
        "buyer_name": sale.buyer_name,
        "buyer_phone": shown_phone(actor, sale.buyer_phone),
        "buyer_kind": sale.buyer_kind,
        "buyer_credit_code": sale.buyer_credit_code,
        "sold_at": local_iso(sale.sold_at),
        "voided_at": local_iso(sale.voided_at),
        "void_reason": sale.void_reason,
        "merchant": {"id": sale.merchant_id, "name": sale.merchant.name, "stall": sale.merchant.stall},
    }


# --- the trace of one code ------------------------------------------------------------------
#
# The trace is the regulator's hot path: p99 within 3x of one hand-written SQL statement (README,
# Benchmarks), a fixed number of queries whatever the batch. One ORM query, built on the scope function
# (`visible_codes`), finds the code among those the actor may see; every other read is a fixed
# SQL statement keyed by the ids that query returned (the code, its batch), so the scope is
# decided once and cannot be bypassed. The statements are plain SQL because building and
# compiling the equivalent querysets costs more than the database spends answering them (on
# the data of bench/bench_trace.py the same reads took 8.1 ms at p50 as querysets, 4.3 ms as
# statements, beside 2.2 ms for the whole trace as one hand-written statement). The answer is
# built as plain dicts in the shapes of the API's serializers (checked against them at import)
# instead of running the serializers. Nothing is cached: every answer is read as the database
# is now.
#
# The SQL is portable (PostgreSQL and SQLite) but for one JSON test, `SALE_OF_CODE`. Times come
# back aware from PostgreSQL and naive UTC from SQLite (how Django stores them): `_utc`.

DETAIL_KEYS = [
    "number",
    "status",
    "status_display",
    "market",
    "warehouse",
    "merchant",
    "customs_declaration_no",
    "rest_until",
    "created_at",
    "status_changed_at",
    "origin_country",
    "port_of_entry",
    "reject_reason",
    "cycle",
    "rest_started_at",
    "lines",
    "disinfections",
    "samples",
    "codes",
    "allowed_actions",
]
LINE_KEYS = (
    "id",
    "product_name",
    "category",
    "specification",
    "quantity",
    "received_quantity",
    "type_matches",
    "spec_matches",
    "unit",
    "gtin",
)
BATCH_KEYS = (
    "id",
    "number",
    "status",
    "market",
    "market_name",
    "warehouse",
    "merchant_id",
    "merchant_name",
    "stall",
    "merchant_market",
    "customs_declaration_no",
    "rest_until",
    "created_at",
    "status_changed_at",
    "origin_country",
    "port_of_entry",
    "reject_reason",
    "cycle",
    "rest_started_at",
)
SALE_KEYS = (
    "id",
    "voided",
    "sold_at",
    "buyer_name",
    "buyer_phone",
    "buyer_kind",
    "buyer_credit_code",
    "voided_at",
    "void_reason",
)
EVENT_KEYS = (
    "id",
    "action",
    "status_before",
    "status_after",
    "actor_id",
    "actor",
    "actor_first_name",
    "actor_last_name",
    "role",
    "at",
    "warehouse_id",
    "warehouse",
    "warehouse_name",
    "zone",
    "details",
)
CODE_FIELDS = ("id", "token", "serial", "item_no", "status", "issued_at", "released_at", "batch_id", "line_id")

# The batch with its market, merchant (and the merchant's market), warehouse and lines, one row
# per line, lines in order.
BATCH_SQL = """
SELECT b.id, b.number, b.status, mk.code, mk.name, w.code, b.merchant_id, me.name, me.stall, mm.code,
       b.customs_declaration_no, b.rest_until, b.created_at, b.status_changed_at, b.origin_country,
       b.port_of_entry, b.reject_reason, b.cycle, b.rest_started_at,
       l.id, l.product_name, l.category, l.specification, l.quantity, l.received_quantity, l.type_matches,
       l.spec_matches, l.unit, l.gtin
FROM batches_batch b
JOIN markets_market mk ON mk.id = b.market_id
JOIN markets_merchant me ON me.id = b.merchant_id
JOIN markets_market mm ON mm.id = me.market_id
LEFT JOIN warehouse_warehouse w ON w.id = b.warehouse_id
LEFT JOIN batches_batchline l ON l.batch_id = b.id
WHERE b.id = %s
ORDER BY l.id"""
DISINFECTIONS_SQL = """
SELECT d.cycle, d.agent, d.concentration, d.method, u.username, u.first_name, u.last_name, d.performed_at
FROM batches_disinfection d JOIN auth_user u ON u.id = d.performed_by_id
WHERE d.batch_id = %s
ORDER BY d.performed_at, d.id"""
SAMPLES_SQL = """
SELECT sp.id, sp.cycle, sp.sample_no, sp.lab, sp.taken_at, r.id, r.result, r.report_no, r.recorded_at
FROM batches_sample sp LEFT JOIN batches_testresult r ON r.sample_id = sp.id
WHERE sp.batch_id = %s
ORDER BY sp.taken_at, sp.id, r.recorded_at, r.id"""
# One grouped query over the batch's codes (index on batch).
CODE_COUNTS_SQL = "SELECT status, COUNT(*) FROM batches_code WHERE batch_id = %s GROUP BY status"
SALES_OF_CODE_SQL = """
SELECT sa.id, si.voided, sa.sold_at, sa.buyer_name, sa.buyer_phone, sa.buyer_kind, sa.buyer_credit_code,
       sa.voided_at, sa.void_reason
FROM markets_saleitem si JOIN markets_sale sa ON sa.id = si.sale_id
WHERE si.code_id = %s
ORDER BY sa.sold_at, sa.id"""
EVENTS_SQL = """
SELECT e.id, e.action, e.status_before, e.status_after, e.actor_id, u.username, u.first_name, u.last_name,
       e.role, e.at, e.warehouse_id, w.code, w.name, e.zone, e.details
FROM batches_event e
LEFT JOIN auth_user u ON u.id = e.actor_id
LEFT JOIN warehouse_warehouse w ON w.id = e.warehouse_id
WHERE e.batch_id = %s{only}
ORDER BY e.id"""
# Of the sale events, only those of the code's own sales (voided ones too): `details.sale` is
# the sale's id. The one place where the two databases spell JSON differently.
SALE_OF_CODE = {
    "postgresql": "e.details -> 'sale' IN (SELECT to_jsonb(si.sale_id) FROM markets_saleitem si WHERE si.code_id = %s)",
    "sqlite": "json_extract(e.details, '$.sale') IN (SELECT si.sale_id FROM markets_saleitem si WHERE si.code_id = %s)",
}


def _check_shapes() -> None:
    """The hand-built batch detail has exactly the fields of the API's serializers (SPEC §4)."""
    expected = {
        "detail": (DETAIL_KEYS, BatchDetail),
        "line": (list(LINE_KEYS), LineOutput),
        "disinfection": (
            ["cycle", "agent", "concentration", "method", "performed_by", "performed_by_name", "performed_at"],
            DisinfectionOutput,
        ),
        "sample": (["cycle", "sample_no", "lab", "taken_at", "results"], SampleOutput),
        "result": (["result", "report_no", "recorded_at"], ResultOutput),
    }
    for name, (keys, serializer) in expected.items():
        if list(serializer._declared_fields) != keys:
            raise RuntimeError(
                f"markets.selectors: the trace's {name} shape no longer matches "
                f"{serializer.__name__}; change the trace together with the serializer."
            )


_check_shapes()
_DATETIME = serializers.DateTimeField()  # the batch detail's time format: DRF's, in the current time zone
STATUS_LABELS = dict(BatchStatus.choices)
ZONE_LABELS = dict(ZoneKind.choices)


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _drf_time(value: datetime | None) -> str | None:
    return None if value is None else _DATETIME.to_representation(_utc(value))


def _rows(cursor, sql: str, params: list) -> list[tuple]:
    cursor.execute(sql, params)
    return cursor.fetchall()


def read_batch(cursor, batch_id: int) -> tuple[dict, list[dict]]:
    """The batch (`BATCH_KEYS`) and its lines (`LINE_KEYS`): one statement."""
    rows = _rows(cursor, BATCH_SQL, [batch_id])
    width = len(BATCH_KEYS)
    batch = dict(zip(BATCH_KEYS, rows[0][:width], strict=True))
    lines = [dict(zip(LINE_KEYS, row[width:], strict=True)) for row in rows if row[width] is not None]
    return batch, lines


def batch_records(cursor, batch_id: int) -> tuple[list[dict], list[dict], dict]:
    """The batch's disinfections, samples with their results, and code counts as the batch
    detail shows them: three statements whatever the size of the batch."""
    disinfections = [
        {
            "cycle": cycle,
            "agent": agent,
            "concentration": concentration,
            "method": method,
            "performed_by": performed_by,
            "performed_by_name": f"{first_name} {last_name}".strip() or performed_by,  # person_name()
            "performed_at": _drf_time(performed_at),
        }
        for cycle, agent, concentration, method, performed_by, first_name, last_name, performed_at in _rows(
            cursor, DISINFECTIONS_SQL, [batch_id]
        )
    ]
    samples: dict[int, dict] = {}
    for sample_id, cycle, sample_no, lab, taken_at, result_id, result, report_no, recorded_at in _rows(
        cursor, SAMPLES_SQL, [batch_id]
    ):
        sample = samples.get(sample_id)
        if sample is None:
            sample = samples[sample_id] = {
                "cycle": cycle,
                "sample_no": sample_no,
                "lab": lab,
                "taken_at": _drf_time(taken_at),
                "results": [],
            }
        if result_id is not None:
            sample["results"].append({"result": result, "report_no": report_no, "recorded_at": _drf_time(recorded_at)})
    by_status = dict(_rows(cursor, CODE_COUNTS_SQL, [batch_id]))
    codes = {"total": sum(by_status.values()), **{status: by_status.get(status, 0) for status in CodeStatus.values}}
    return disinfections, list(samples.values()), codes


def batch_detail(
    batch: dict, lines: list[dict], disinfections: list[dict], samples: list[dict], codes: dict, actor: Actor | None
) -> dict:
    """The batch detail of SPEC §4 (`BatchDetail`'s fields and formats) from `read_batch` and
    `batch_records`. It holds no buyer and no personal data. The status is the one the batch
    truly has now, as in the batch detail (R1: a rest past `rest_until` is over)."""
    status = Batch(status=batch["status"], rest_until=_utc(batch["rest_until"])).current_status()
    return {
        "number": batch["number"],
        "status": status,
        "status_display": str(STATUS_LABELS.get(status, status)),
        "market": batch["market"],
        "warehouse": batch["warehouse"],
        "merchant": {"id": batch["merchant_id"], "name": batch["merchant_name"]},
        "customs_declaration_no": batch["customs_declaration_no"],
        "rest_until": _drf_time(batch["rest_until"]),
        "created_at": _drf_time(batch["created_at"]),
        "status_changed_at": _drf_time(batch["status_changed_at"]),
        "origin_country": batch["origin_country"],
        "port_of_entry": batch["port_of_entry"],
        "reject_reason": batch["reject_reason"],
        "cycle": batch["cycle"],
        "rest_started_at": _drf_time(batch["rest_started_at"]),
        "lines": lines,
        "disinfections": disinfections,
        "samples": samples,
        "codes": codes,
        "allowed_actions": allowed_actions(status, actor.role) if actor else [],
    }


def buyer_output(sale: dict, actor: Actor | None) -> dict:
    """A sale (`SALE_KEYS`) and its buyer as the trace shows them."""
    return {
        "id": sale["id"],
        "sold_at": local_iso(_utc(sale["sold_at"])),
        "buyer_name": sale["buyer_name"],
        "buyer_phone": shown_phone(actor, sale["buyer_phone"]),
        "buyer_kind": sale["buyer_kind"],
        "buyer_credit_code": sale["buyer_credit_code"],
        "voided_at": local_iso(_utc(sale["voided_at"])),
        "void_reason": sale["void_reason"],
    }


def batch_merchant(batch: dict) -> dict:
    return {
        "id": batch["merchant_id"],
        "name": batch["merchant_name"],
        "stall": batch["stall"],
        "market": batch["merchant_market"],
    }


# --- events as the trace shows them ---------------------------------------------------------


def read_events(cursor, batch_id: int, *, of_code: int | None = None) -> list[dict]:
    """The batch's events (`EVENT_KEYS`), oldest first, with who and where: one statement. With
    `of_code`, of the sale events only those of that code's sales."""
    if of_code is None:
        rows = _rows(cursor, EVENTS_SQL.format(only=""), [batch_id])
    else:
        only = f"\n  AND (e.action NOT IN ('sale', 'sale_void') OR {SALE_OF_CODE[cursor.db.vendor]})"
        rows = _rows(cursor, EVENTS_SQL.format(only=only), [batch_id, of_code])
    events = [dict(zip(EVENT_KEYS, row, strict=True)) for row in rows]
    for event in events:
        details = event["details"]
        event["details"] = json.loads(details) if isinstance(details, (str, bytes)) else details
    return events


def event_output(event: dict, batch: dict) -> dict:
    """An event (`read_events`) with who, when (Asia/Shanghai) and where: the warehouse and
    zone, or for a sale the market and stall."""
    zone = event["zone"]
    if event["action"] in SALE_ACTIONS:
        place = f"{batch['market_name']} {batch['stall']}"
    elif event["warehouse_id"]:
        place = f"{event['warehouse_name']}{f' · {ZONE_LABELS[zone]}' if zone in ZONE_LABELS else ''}"
    else:
        place = batch["market_name"]
    has_actor = event["actor_id"] is not None
    username = event["actor"]
    full_name = f"{event['actor_first_name']} {event['actor_last_name']}".strip() if has_actor else ""
    return {
        "id": event["id"],
        "action": event["action"],
        "status_before": event["status_before"],
        "status_after": event["status_after"],
        "actor": username if has_actor else None,
        "actor_name": (full_name or username) if has_actor else None,
        "role": event["role"],
        "at": local_iso(_utc(event["at"])),
        "warehouse": event["warehouse"] if event["warehouse_id"] else None,
        "zone": zone,
        "place": place,
        "details": event["details"],
    }


def _names_code(value, token: str, number: str, serial: str) -> bool:
    if value == token:
        return True
    if isinstance(value, str) and "/" not in value and "%" not in value:
        return value.strip().upper() == token  # what parse_code_scan makes of a bare token
    ref = parse_code_scan(value)
    return bool(ref) and (ref.token == token or (ref.lot == number and ref.serial == serial))


def _concerns_code(event: dict, token: str, number: str, serial: str) -> bool:
    """A release naming codes concerns only those; every other batch event concerns all its codes."""
    codes = event["details"].get("codes") if event["action"] == "release" else None
    return not isinstance(codes, list) or any(_names_code(value, token, number, serial) for value in codes)


def code_trace(*, actor: Actor, token: str) -> dict | None:
    """The whole chain of one code in order — declaration, approval, arrival, disinfection,
    rest, samples and results, storage, coding, release, sale — with its current sale and
    buyer. None if the code is outside the actor's scope.

    Seven queries whatever the batch: the code, in the actor's scope; its sales; the batch with
    its market, warehouse, merchant and lines; its disinfections; its samples with results; its
    code counts (one grouped query); the events with actor and warehouse."""
    value = (token or "").strip()
    ref = CodeRef(token=value) if TOKEN_RE.match(value) else parse_code_scan(value)
    if ref is None:
        return None
    codes = visible_codes(actor)
    codes = codes.filter(token=ref.token) if ref.token else codes.filter(batch__number=ref.lot, serial=ref.serial)
    found = list(codes.order_by().values_list(*CODE_FIELDS)[:1])
    if not found:
        return None
    code = dict(zip(CODE_FIELDS, found[0], strict=True))
    with connections[read_alias()].cursor() as cursor:
        batch, lines = read_batch(cursor, code["batch_id"])
        line = next(line for line in lines if line["id"] == code["line_id"])
        if not ref.token and (not line["gtin"] or gtin14(line["gtin"]) != ref.gtin):
            return None  # a Digital Link whose GTIN is not the line's names no code
        sales = [dict(zip(SALE_KEYS, row, strict=True)) for row in _rows(cursor, SALES_OF_CODE_SQL, [code["id"]])]
        disinfections, samples, counts = batch_records(cursor, code["batch_id"])
        events = read_events(cursor, code["batch_id"], of_code=code["id"])
    number = batch["number"]
    active = next((sale for sale in sales if not sale["voided"]), None)
    return {
        "code": {
            "token": code["token"],
            "serial": code["serial"],
            "item_no": code["item_no"],
            "status": code["status"],
            "url": code_url(token=code["token"], gtin=line["gtin"], batch_number=number, serial=code["serial"]),
            "product_name": line["product_name"],
            "specification": line["specification"],
            "gtin": line["gtin"],
            "issued_at": local_iso(code["issued_at"]),
            "released_at": local_iso(code["released_at"]),
        },
        "batch": batch_detail(batch, lines, disinfections, samples, counts, actor),
        "merchant": batch_merchant(batch),
        "events": [
            event_output(event, batch)
            for event in events
            if _concerns_code(event, code["token"], number, code["serial"])
        ],
        "sale": buyer_output(active, actor) if active else None,
        "voided_sales": [buyer_output(sale, actor) for sale in sales if sale["voided"]],
    }


def merchant_ref(merchant: Merchant) -> dict:
    return {"id": merchant.pk, "name": merchant.name, "stall": merchant.stall, "market": merchant.market.code}


# --- the trace of one batch -----------------------------------------------------------------


def batch_for_trace(*, actor: Actor, number: str) -> Batch | None:
    batches = visible_batches(actor).select_related("market", "warehouse", "merchant__market")
    return batches.filter(number=number).first()


def batch_buyers(batch: Batch) -> QuerySet:
    """Buyers of the batch's codes (active sales), one row per buyer, first buyer first."""
    return (
        SaleItem.objects.filter(code__batch=batch, voided=False)
        .values("sale__buyer_name", "sale__buyer_phone", "sale__buyer_kind", "sale__buyer_credit_code")
        .annotate(
            codes=Count("id"),
            sales=Count("sale_id", distinct=True),
            first_sold_at=Min("sale__sold_at"),
            last_sold_at=Max("sale__sold_at"),
        )
        .order_by("first_sold_at", "sale__buyer_phone")
    )


def batch_trace(*, actor: Actor, batch: Batch) -> dict:
    """Counts of codes issued / in warehouse / released / sold / recalled and of codes whose
    sale was voided, the buyers, and the timeline."""
    with connections[read_alias()].cursor() as cursor:
        fields, lines = read_batch(cursor, batch.pk)
        detail = batch_detail(fields, lines, *batch_records(cursor, batch.pk), actor)
        events = read_events(cursor, batch.pk)
    codes = detail["codes"]
    items = SaleItem.objects.filter(code__batch=batch).aggregate(
        voided_codes=Count("id", filter=Q(voided=True)), sales=Count("sale_id", distinct=True, filter=Q(voided=False))
    )
    buyers = [
        {
            "buyer_name": row["sale__buyer_name"],
            "buyer_phone": shown_phone(actor, row["sale__buyer_phone"]),
            "buyer_kind": row["sale__buyer_kind"],
            "buyer_credit_code": row["sale__buyer_credit_code"],
            "codes": row["codes"],
            "sales": row["sales"],
            "first_sold_at": local_iso(row["first_sold_at"]),
            "last_sold_at": local_iso(row["last_sold_at"]),
        }
        for row in batch_buyers(batch)
    ]
    return {
        "batch": detail,
        "merchant": batch_merchant(fields),
        "counts": {
            "issued": codes["total"],
            "in_warehouse": codes["in_warehouse"],
            "released": codes["released"],
            "sold": codes["sold"],
            "recalled": codes["recalled"],
            "voided": items["voided_codes"],
            "sales": items["sales"],
            "buyers": sum(1 for buyer in buyers if buyer["buyer_phone"]),  # anonymised buyers have no phone
        },
        "buyers": buyers,
        "timeline": [event_output(event, fields) for event in events],
    }


def recall_buyers(*, actor: Actor, batch: Batch) -> list[dict]:
    """Everyone to contact after a recall: one entry per active sale of the batch's codes, with
    the codes of this batch it took, oldest first."""
    rows = (
        SaleItem.objects.filter(code__batch=batch, voided=False)
        .order_by("sale__sold_at", "sale_id", "code__item_no")
        .values_list(
            "sale_id", "sale__buyer_name", "sale__buyer_phone", "sale__buyer_kind", "sale__sold_at", "code__token"
        )
    )
    buyers: dict[int, dict] = {}
    for sale_id, name, phone, kind, sold_at, token in rows.iterator(chunk_size=5000):
        if sale_id not in buyers:
            buyers[sale_id] = {
                "sale": sale_id,
                "buyer_name": name,
                "buyer_phone": shown_phone(actor, phone),
                "buyer_kind": kind,
                "codes": [],
                "sold_at": local_iso(sold_at),
            }
        buyers[sale_id]["codes"].append(token)
    return list(buyers.values())


# --- a merchant's sales ---------------------------------------------------------------------


def merchant_for_trace(*, actor: Actor, merchant_id: int) -> Merchant | None:
    return visible_merchants(actor).select_related("market").filter(pk=merchant_id).first()


def _period(queryset, field: str, start: datetime | None, end: datetime | None):
    if start:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


# Buyers are counted by phone; an anonymised buyer (markets.retention) has none and is not
# counted as a buyer (its sales and codes still are).
NAMED_BUYER = Q(sale__buyer_anonymised_at__isnull=True)


def sold_items(*, merchant: Merchant, start: datetime | None, end: datetime | None) -> QuerySet[SaleItem]:
    """The codes the merchant sold in [start, end) and did not void."""
    return _period(SaleItem.objects.filter(sale__merchant=merchant, voided=False), "sale__sold_at", start, end)


def merchant_sales_summary(*, merchant: Merchant, start: datetime | None, end: datetime | None) -> dict:
    """How much the merchant sold and to how many buyers, per batch and per product (line)."""
    items = sold_items(merchant=merchant, start=start, end=end)
    totals = items.aggregate(
        codes=Count("id"),
        sales=Count("sale_id", distinct=True),
        buyers=Count("sale__buyer_phone", distinct=True, filter=NAMED_BUYER),
    )
    totals["voided_sales"] = _period(
        Sale.objects.filter(merchant=merchant, voided_at__isnull=False), "sold_at", start, end
    ).count()
    by_product = [
        {
            "batch": row["code__batch__number"],
            "line": row["code__line_id"],
            "product_name": row["code__line__product_name"],
            "specification": row["code__line__specification"],
            "gtin": row["code__line__gtin"],
            "unit": row["code__line__unit"],
            "codes": row["codes"],
            "sales": row["sales"],
            "buyers": row["buyers"],
        }
        for row in items.values(
            "code__batch__number",
            "code__line_id",
            "code__line__product_name",
            "code__line__specification",
            "code__line__gtin",
            "code__line__unit",
        )
        .annotate(
            codes=Count("id"),
            sales=Count("sale_id", distinct=True),
            buyers=Count("sale__buyer_phone", distinct=True, filter=NAMED_BUYER),
        )
        .order_by("code__batch__number", "code__line_id")
    ]
    by_batch: dict[str, dict] = {}
    for row in by_product:
        entry = by_batch.setdefault(row["batch"], {"batch": row["batch"], "codes": 0})
        entry["codes"] += row["codes"]
    return {"totals": totals, "by_batch": list(by_batch.values()), "by_product": by_product}


def merchant_sales(*, merchant: Merchant, start: datetime | None, end: datetime | None) -> QuerySet[Sale]:
    """The merchant's active sales in the period, newest first, with their codes."""
    sales = _period(Sale.objects.filter(merchant=merchant, voided_at__isnull=True), "sold_at", start, end)
    return sales_with_codes(sales).order_by("-sold_at", "-id")


# The Chinese header; the export itself is in the language of the request (markets/exports.py).
EXPORT_HEADER = SALES_HEADER["zh-hans"]


def export_rows(
    *,
    merchant: Merchant,
    start: datetime | None,
    end: datetime | None,
    chunk_size: int = 2000,
    using: str | None = None,
) -> Iterator[tuple]:
    """One row per code sold, oldest sale first, read with a server-side cursor in chunks so
    that memory stays bounded whatever the number of rows. Times are naive Asia/Shanghai.
    `using` names the database when the rows are read after the view has returned (streamed)."""
    kinds = dict(BuyerKind.choices)
    labels: dict[str, str] = {}  # each kind's label translated once, not once per row
    rows = (
        sold_items(merchant=merchant, start=start, end=end)
        .using(using or read_alias())
        .order_by("sale__sold_at", "sale_id", "code__item_no")
        .values_list(
            "sale__sold_at",
            "sale_id",
            "code__batch__number",
            "code__line__product_name",
            "code__line__category",
            "code__line__specification",
            "code__line__gtin",
            "code__item_no",
            "code__serial",
            "code__token",
            "sale__buyer_name",
            "sale__buyer_phone",
            "sale__buyer_kind",
            "sale__buyer_credit_code",
        )
    )
    for (
        sold_at,
        sale_id,
        number,
        product,
        category,
        specification,
        gtin,
        item_no,
        serial,
        token,
        buyer,
        phone,
        kind,
        credit_code,
    ) in rows.iterator(chunk_size=chunk_size):
        label = labels.get(kind)
        if label is None:
            label = labels[kind] = str(kinds.get(kind, kind))
        yield (
            sold_at.astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0),
            sale_id,
            number,
            product,
            category,
            specification,
            gtin,
            item_no,
            token,
            code_url(token=token, gtin=gtin, batch_number=number, serial=serial),
            buyer,
            phone,
            label,
            credit_code,
            merchant.name,
            merchant.stall,
        )


# --- search ---------------------------------------------------------------------------------


def trace_search(*, actor: Actor, q: str) -> dict:
    """Find by code token or scanned URL, batch number, merchant name or licence, buyer phone —
    within the actor's scope, at most SEARCH_LIMIT of each."""
    q = q.strip()
    found = {"codes": [], "batches": [], "merchants": [], "sales": []}
    if parse_code_scan(q):
        code = codes_for_scans([q], queryset=visible_codes(actor))[q]
        if code is not None:
            found["codes"].append(
                {
                    "token": code.token,
                    "serial": code.serial,
                    "item_no": code.item_no,
                    "status": code.status,
                    "batch": code.batch.number,
                }
            )
    for batch in (
        visible_batches(actor)
        .filter(number__icontains=q)
        .select_related("merchant")
        .order_by("-created_at")[:SEARCH_LIMIT]
    ):
        found["batches"].append(
            {
                "number": batch.number,
                "status": batch.status,
                "merchant": {"id": batch.merchant_id, "name": batch.merchant.name},
            }
        )
    merchants = visible_merchants(actor).filter(Q(name__icontains=q) | Q(licence_no__iexact=q)).select_related("market")
    found["merchants"] = [
        dict(merchant_ref(m), licence_no=m.licence_no) for m in merchants.order_by("name")[:SEARCH_LIMIT]
    ]
    phone = normalize_mobile(q)
    if phone.isdigit() and len(phone) == 11 and phone.startswith("1"):
        sales = sales_with_codes(visible_sales(actor).filter(buyer_phone=phone)).order_by("-sold_at", "-id")
        found["sales"] = [sale_output(sale, actor) for sale in sales[:SEARCH_LIMIT]]
    return found


# --- EPCIS ----------------------------------------------------------------------------------


def epcis_for_batch(*, batch: Batch, created: datetime) -> dict:
    """The batch's events as an EPCIS 2.0 document (markets.epcis); four queries."""
    lines = [
        epcis.Line(
            id=line.pk,
            product_name=line.product_name,
            gtin=line.gtin,
            quantity=line.quantity,
            received_quantity=line.received_quantity,
        )
        for line in batch.lines.all()
    ]
    gtins = {line.id: line.gtin for line in lines}
    codes = [
        epcis.CodeRef(
            token=token,
            item_no=item_no,
            released_at=released_at,
            uri=code_url(token=token, gtin=gtins.get(line_id, ""), batch_number=batch.number, serial=serial),
        )
        for token, item_no, serial, line_id, released_at in batch.codes.order_by("item_no")
        .values_list("token", "item_no", "serial", "line_id", "released_at")
        .iterator(chunk_size=5000)
    ]
    steps = [
        epcis.Step(
            id=event.pk,
            action=event.action,
            status_before=event.status_before,
            status_after=event.status_after,
            role=event.role,
            at=event.at,
            zone=event.zone,
            details=event.details,
            warehouse=epcis.Place(event.warehouse.code, event.warehouse.name) if event.warehouse_id else None,
        )
        for event in batch.events.select_related("warehouse").order_by("id")
    ]
    data = epcis.BatchInput(
        number=batch.number,
        market=epcis.Place(batch.market.code, batch.market.name),
        stall=batch.merchant.stall,
        lines=lines,
        codes=codes,
        steps=steps,
    )
    return epcis.epcis_document(batch=data, base_url=settings.PUBLIC_BASE_URL, created=created)
