"""Selectors: what sales and the regulator's trace read (SPEC §2, §4).

Every queryset starts from a scope function — `visible_sales` and `visible_merchants` here,
`visible_batches` / `visible_codes` in batches.actors — so no endpoint can forget the scope.
A buyer's phone is shown through `shown_phone`: in full to regulators only (issue 4 §5).
Each trace reads a fixed number of queries whatever the size of the batch.
"""

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Max, Min, Prefetch, Q, QuerySet
from rest_framework import serializers

from batches.actors import Actor, visible_batches, visible_codes
from batches.api.serializers import BatchDetail, DisinfectionOutput, LineOutput, ResultOutput, SampleOutput
from batches.codes import TOKEN_RE, CodeRef, codes_for_scans, parse_code_scan
from batches.gs1 import gtin14
from batches.lifecycle import allowed_actions
from batches.models import Batch, BatchLine, Code, CodeStatus, Disinfection, Event, Role, Sample
from batches.models import Status as BatchStatus
from batches.services import code_url
from warehouse.models import ZoneKind

from . import epcis
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
        return sales.filter(merchant__market__district_id=actor.district_id)
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
        return merchants.filter(market__district_id=actor.district_id)
    return merchants.none()


def shown_phone(actor: Actor | None, phone: str) -> str:
    """Buyer phones in full to regulators only; masked (`138****0001`) to everyone else."""
    return phone if actor is not None and actor.role == Role.REGULATOR else mask_mobile(phone)


# --- sales ----------------------------------------------------------------------------------

def sales_with_codes(queryset: QuerySet[Sale]) -> QuerySet[Sale]:
    return queryset.select_related("merchant").prefetch_related(
        Prefetch("items", queryset=SaleItem.objects.select_related("code")
                 .only("id", "sale_id", "voided", "code__token").order_by("code_id"))
    )


def sale_output(sale: Sale, actor: Actor | None) -> dict:
    return {
        "id": sale.pk,
        "codes": [item.code.token for item in sale.items.all()],
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
# The trace is the hot path of issue 4 (p99 within 3x of one hand-written SQL statement), so it
# reads rows with `values_list` - no model instances, no select_related of whole user rows - and
# builds its answer as plain dicts instead of running the DRF serializers. The shapes are the
# serializers' own (checked against them below, at import) and nothing is cached: every answer
# is read from the database as it is now.

DETAIL_KEYS = [
    "number", "status", "status_display", "market", "warehouse", "merchant", "customs_declaration_no",
    "rest_until", "created_at", "status_changed_at", "origin_country", "port_of_entry", "reject_reason",
    "cycle", "rest_started_at", "lines", "disinfections", "samples", "codes", "allowed_actions",
]
LINE_FIELDS = ("id", "product_name", "category", "specification", "quantity", "received_quantity",
               "type_matches", "spec_matches", "unit", "gtin")
DISINFECTION_FIELDS = ("cycle", "agent", "concentration", "method", "performed_by__username", "performed_at")
SAMPLE_FIELDS = ("id", "cycle", "sample_no", "lab", "taken_at",
                 "results__id", "results__result", "results__report_no", "results__recorded_at")
BATCH_FIELDS = ("id", "number", "status", "market__code", "market__name", "warehouse__code", "merchant_id",
                "merchant__name", "merchant__stall", "merchant__market__code", "customs_declaration_no",
                "rest_until", "created_at", "status_changed_at", "origin_country", "port_of_entry",
                "reject_reason", "cycle", "rest_started_at")
EVENT_FIELDS = ("id", "action", "status_before", "status_after", "actor_id", "actor__username",
                "actor__first_name", "actor__last_name", "role", "at", "warehouse_id", "warehouse__code",
                "warehouse__name", "zone", "details")
CODE_FIELDS = ("id", "token", "serial", "status", "issued_at", "released_at", "batch_id", "line_id")
SALE_KEYS = ("id", "voided", "sold_at", "buyer_name", "buyer_phone", "buyer_kind", "buyer_credit_code", "voided_at",
             "void_reason")
CODE_SALE_FIELDS = ("sale_items__sale_id", "sale_items__voided", "sale_items__sale__sold_at",
                    "sale_items__sale__buyer_name", "sale_items__sale__buyer_phone",
                    "sale_items__sale__buyer_kind", "sale_items__sale__buyer_credit_code",
                    "sale_items__sale__voided_at", "sale_items__sale__void_reason")


def _check_shapes() -> None:
    """The hand-built batch detail has exactly the fields of the API's serializers (SPEC §4)."""
    expected = {
        "detail": (DETAIL_KEYS, BatchDetail),
        "line": (list(LINE_FIELDS), LineOutput),
        "disinfection": (["cycle", "agent", "concentration", "method", "performed_by", "performed_at"],
                         DisinfectionOutput),
        "sample": (["cycle", "sample_no", "lab", "taken_at", "results"], SampleOutput),
        "result": (["result", "report_no", "recorded_at"], ResultOutput),
    }
    for name, (keys, serializer) in expected.items():
        if list(serializer._declared_fields) != keys:
            raise RuntimeError(f"markets.selectors: the trace's {name} shape no longer matches "
                               f"{serializer.__name__}; update the trace together with the serializer.")


_check_shapes()
_DATETIME = serializers.DateTimeField()  # the batch detail's time format (DRF's, current time zone)
STATUS_LABELS = dict(BatchStatus.choices)
ZONE_LABELS = dict(ZoneKind.choices)


def _drf_time(value: datetime | None) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


def batch_fields(batch: Batch) -> dict:
    """A fetched batch (with market, warehouse and merchant__market) as the row `BATCH_FIELDS` reads."""
    return {
        "id": batch.pk, "number": batch.number, "status": batch.status, "market__code": batch.market.code,
        "market__name": batch.market.name, "warehouse__code": batch.warehouse.code if batch.warehouse_id else None,
        "merchant_id": batch.merchant_id, "merchant__name": batch.merchant.name,
        "merchant__stall": batch.merchant.stall, "merchant__market__code": batch.merchant.market.code,
        "customs_declaration_no": batch.customs_declaration_no, "rest_until": batch.rest_until,
        "created_at": batch.created_at, "status_changed_at": batch.status_changed_at,
        "origin_country": batch.origin_country, "port_of_entry": batch.port_of_entry,
        "reject_reason": batch.reject_reason, "cycle": batch.cycle, "rest_started_at": batch.rest_started_at,
    }


def _lines(rows) -> list[dict]:
    return [dict(zip(LINE_FIELDS, row)) for row in rows]


def batch_records(batch_id: int) -> tuple[list[dict], list[dict], dict]:
    """The batch's disinfections, samples with their results, and code counts (one grouped
    query): three queries whatever the size of the batch."""
    disinfections = [
        {"cycle": cycle, "agent": agent, "concentration": concentration, "method": method,
         "performed_by": performed_by, "performed_at": _drf_time(performed_at)}
        for cycle, agent, concentration, method, performed_by, performed_at in
        Disinfection.objects.filter(batch_id=batch_id).order_by("performed_at", "id").values_list(*DISINFECTION_FIELDS)
    ]
    samples: dict[int, dict] = {}
    for sample_id, cycle, sample_no, lab, taken_at, result_id, result, report_no, recorded_at in (
            Sample.objects.filter(batch_id=batch_id)
            .order_by("taken_at", "id", "results__recorded_at", "results__id").values_list(*SAMPLE_FIELDS)):
        sample = samples.get(sample_id)
        if sample is None:
            sample = samples[sample_id] = {"cycle": cycle, "sample_no": sample_no, "lab": lab,
                                           "taken_at": _drf_time(taken_at), "results": []}
        if result_id is not None:
            sample["results"].append({"result": result, "report_no": report_no,
                                      "recorded_at": _drf_time(recorded_at)})
    by_status = dict(Code.objects.filter(batch_id=batch_id).order_by().values_list("status")
                     .annotate(n=Count("id")).values_list("status", "n"))
    codes = {"total": sum(by_status.values()), **{status: by_status.get(status, 0) for status in CodeStatus.values}}
    return disinfections, list(samples.values()), codes


def batch_detail(batch: dict, lines: list[dict], disinfections: list[dict], samples: list[dict], codes: dict,
                 actor: Actor | None) -> dict:
    """The batch detail of SPEC §4 (`BatchDetail`'s shape and formats), without buyers or any
    other personal data, from a `BATCH_FIELDS` row and `batch_records`."""
    status = batch["status"]
    return {
        "number": batch["number"],
        "status": status,
        "status_display": str(STATUS_LABELS.get(status, status)),
        "market": batch["market__code"],
        "warehouse": batch["warehouse__code"],
        "merchant": {"id": batch["merchant_id"], "name": batch["merchant__name"]},
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


def batch_detail_output(batch: Batch, actor: Actor) -> dict:
    """The batch detail (SPEC §4) of an already fetched batch: its records in four queries.
    It holds no buyer and no personal data."""
    lines = _lines(BatchLine.objects.filter(batch_id=batch.pk).order_by("id").values_list(*LINE_FIELDS))
    return batch_detail(batch_fields(batch), lines, *batch_records(batch.pk), actor)


def buyer_output(sale: dict, actor: Actor | None) -> dict:
    """A sale and its buyer as the trace shows them, from a `CODE_SALE_FIELDS` row."""
    return {
        "id": sale["id"],
        "sold_at": local_iso(sale["sold_at"]),
        "buyer_name": sale["buyer_name"],
        "buyer_phone": shown_phone(actor, sale["buyer_phone"]),
        "buyer_kind": sale["buyer_kind"],
        "buyer_credit_code": sale["buyer_credit_code"],
        "voided_at": local_iso(sale["voided_at"]),
        "void_reason": sale["void_reason"],
    }


# --- events as the trace shows them ---------------------------------------------------------

def batch_events(batch_id: int, *, sale_ids: list[int] | None = None) -> list[dict]:
    """The batch's events, oldest first, with who and where (one query); with `sale_ids`, only
    the sale events of those sales."""
    events = Event.objects.filter(batch_id=batch_id)
    if sale_ids is not None:  # (a non-sale event naming a sale is kept by the first test anyway)
        events = events.filter(~Q(action__in=SALE_ACTIONS) | Q(details__sale__in=sale_ids))
    return [dict(zip(EVENT_FIELDS, row)) for row in events.order_by("id").values_list(*EVENT_FIELDS)]


def event_output(event: dict, batch: dict) -> dict:
    """An event (an `EVENT_FIELDS` row) with who, when (Asia/Shanghai) and where: the
    warehouse and zone, or for a sale the market and stall."""
    zone = event["zone"]
    if event["action"] in SALE_ACTIONS:
        place = f"{batch['market__name']} {batch['merchant__stall']}"
    elif event["warehouse_id"]:
        label = f" · {ZONE_LABELS[zone]}" if zone in ZONE_LABELS else ""
        place = f"{event['warehouse__name']}{label}"
    else:
        place = batch["market__name"]
    has_actor = event["actor_id"] is not None
    username = event["actor__username"]
    full_name = f"{event['actor__first_name']} {event['actor__last_name']}".strip() if has_actor else ""
    return {
        "id": event["id"],
        "action": event["action"],
        "status_before": event["status_before"],
        "status_after": event["status_after"],
        "actor": username if has_actor else None,
        "actor_name": (full_name or username) if has_actor else None,
        "role": event["role"],
        "at": local_iso(event["at"]),
        "warehouse": event["warehouse__code"] if event["warehouse_id"] else None,
        "zone": zone,
        "place": place,
        "details": event["details"],
    }


def _names_code(value, token: str, number: str, serial: int) -> bool:
    if value == token:
        return True
    if isinstance(value, str) and "/" not in value and "%" not in value:
        return value.strip().upper() == token  # a bare token names only itself (parse_code_scan)
    ref = parse_code_scan(value)
    return bool(ref) and (ref.token == token or (ref.lot == number and ref.serial == serial))


def _concerns_code(event: dict, token: str, number: str, serial: int) -> bool:
    """A release naming codes concerns only those; every other batch event concerns all its codes."""
    details = event["details"]
    codes = details.get("codes") if event["action"] == "release" and isinstance(details, dict) else None
    return not isinstance(codes, list) or any(_names_code(value, token, number, serial) for value in codes)


def code_trace(*, actor: Actor, token: str) -> dict | None:
    """The whole chain of one code in order — declaration, approval, arrival, disinfection,
    rest, samples and results, storage, coding, release, sale — with its current sale and
    buyer. None if the code is outside the actor's scope.

    Six queries whatever the batch: the code with its sales (in the actor's scope); the batch
    with its market, warehouse, merchant and lines; its disinfections; its samples with their
    results; its code counts (one grouped query); the events with actor and warehouse."""
    value = (token or "").strip()
    ref = CodeRef(token=value) if TOKEN_RE.match(value) else parse_code_scan(value)
    if ref is None:
        return None
    codes = visible_codes(actor)
    codes = codes.filter(token=ref.token) if ref.token else codes.filter(batch__number=ref.lot, serial=ref.serial)
    rows = list(codes.order_by().values_list(*CODE_FIELDS, *CODE_SALE_FIELDS))
    if not rows:
        return None
    code = dict(zip(CODE_FIELDS, rows[0]))
    sales = sorted((dict(zip(SALE_KEYS, row[len(CODE_FIELDS):])) for row in rows if row[len(CODE_FIELDS)] is not None),
                   key=lambda sale: (sale["sold_at"], sale["id"]))

    batch_rows = list(Batch.objects.filter(pk=code["batch_id"]).order_by("lines__id")
                      .values_list(*BATCH_FIELDS, *(f"lines__{name}" for name in LINE_FIELDS)))
    batch = dict(zip(BATCH_FIELDS, batch_rows[0]))
    lines = _lines(row[len(BATCH_FIELDS):] for row in batch_rows if row[len(BATCH_FIELDS)] is not None)
    line = next(line for line in lines if line["id"] == code["line_id"])
    if not ref.token and (not line["gtin"] or gtin14(line["gtin"]) != ref.gtin):
        return None  # a Digital Link whose GTIN is not the line's names no code
    disinfections, samples, counts = batch_records(batch["id"])
    number = batch["number"]
    events = batch_events(batch["id"], sale_ids=[sale["id"] for sale in sales])
    active = next((sale for sale in sales if not sale["voided"]), None)
    return {
        "code": {
            "token": code["token"],
            "serial": code["serial"],
            "status": code["status"],
            "url": code_url(token=code["token"], gtin=line["gtin"], batch_number=number, serial=code["serial"]),
            "product_name": line["product_name"],
            "specification": line["specification"],
            "gtin": line["gtin"],
            "issued_at": local_iso(code["issued_at"]),
            "released_at": local_iso(code["released_at"]),
        },
        "batch": batch_detail(batch, lines, disinfections, samples, counts, actor),
        "merchant": {"id": batch["merchant_id"], "name": batch["merchant__name"], "stall": batch["merchant__stall"],
                     "market": batch["merchant__market__code"]},
        "events": [event_output(event, batch) for event in events
                   if _concerns_code(event, code["token"], number, code["serial"])],
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
        .annotate(codes=Count("id"), sales=Count("sale_id", distinct=True),
                  first_sold_at=Min("sale__sold_at"), last_sold_at=Max("sale__sold_at"))
        .order_by("first_sold_at", "sale__buyer_phone")
    )


def batch_trace(*, actor: Actor, batch: Batch) -> dict:
    """Counts of codes issued / in warehouse / released / sold / recalled and of codes whose
    sale was voided, the buyers, and the timeline."""
    fields = batch_fields(batch)
    detail = batch_detail_output(batch, actor)
    codes = detail["codes"]
    items = SaleItem.objects.filter(code__batch=batch).aggregate(
        voided_codes=Count("id", filter=Q(voided=True)), sales=Count("sale_id", distinct=True, filter=Q(voided=False)))
    buyers = [
        {"buyer_name": row["sale__buyer_name"], "buyer_phone": shown_phone(actor, row["sale__buyer_phone"]),
         "buyer_kind": row["sale__buyer_kind"], "buyer_credit_code": row["sale__buyer_credit_code"],
         "codes": row["codes"], "sales": row["sales"], "first_sold_at": local_iso(row["first_sold_at"]),
         "last_sold_at": local_iso(row["last_sold_at"])}
        for row in batch_buyers(batch)
    ]
    return {
        "batch": detail,
        "merchant": merchant_ref(batch.merchant),
        "counts": {
            "issued": codes["total"],
            "in_warehouse": codes["in_warehouse"],
            "released": codes["released"],
            "sold": codes["sold"],
            "recalled": codes["recalled"],
            "voided": items["voided_codes"],
            "sales": items["sales"],
            "buyers": len(buyers),
        },
        "buyers": buyers,
        "timeline": [event_output(event, fields) for event in batch_events(batch.pk)],
    }


def recall_buyers(*, actor: Actor, batch: Batch) -> list[dict]:
    """Everyone to contact after a recall: one entry per active sale of the batch's codes, with
    the codes of this batch it took, oldest first."""
    rows = (
        SaleItem.objects.filter(code__batch=batch, voided=False)
        .order_by("sale__sold_at", "sale_id", "code__serial")
        .values_list("sale_id", "sale__buyer_name", "sale__buyer_phone", "sale__buyer_kind", "sale__sold_at",
                     "code__token")
    )
    buyers: dict[int, dict] = {}
    for sale_id, name, phone, kind, sold_at, token in rows.iterator(chunk_size=5000):
        if sale_id not in buyers:
            buyers[sale_id] = {"sale": sale_id, "buyer_name": name, "buyer_phone": shown_phone(actor, phone),
                               "buyer_kind": kind, "codes": [], "sold_at": local_iso(sold_at)}
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


def sold_items(*, merchant: Merchant, start: datetime | None, end: datetime | None) -> QuerySet[SaleItem]:
    """The codes the merchant sold in [start, end) and did not void."""
    return _period(SaleItem.objects.filter(sale__merchant=merchant, voided=False), "sale__sold_at", start, end)


def merchant_sales_summary(*, merchant: Merchant, start: datetime | None, end: datetime | None) -> dict:
    """How much the merchant sold and to how many buyers, per batch and per product (line)."""
    items = sold_items(merchant=merchant, start=start, end=end)
    totals = items.aggregate(codes=Count("id"), sales=Count("sale_id", distinct=True),
                             buyers=Count("sale__buyer_phone", distinct=True))
    totals["voided_sales"] = _period(Sale.objects.filter(merchant=merchant, voided_at__isnull=False),
                                     "sold_at", start, end).count()
    by_product = [
        {"batch": row["code__batch__number"], "line": row["code__line_id"],
         "product_name": row["code__line__product_name"], "specification": row["code__line__specification"], "gtin": row["code__line__gtin"],
         "unit": row["code__line__unit"], "codes": row["codes"], "sales": row["sales"], "buyers": row["buyers"]}
        for row in items.values("code__batch__number", "code__line_id", "code__line__product_name",
                                "code__line__specification", "code__line__gtin", "code__line__unit")
        .annotate(codes=Count("id"), sales=Count("sale_id", distinct=True),
                  buyers=Count("sale__buyer_phone", distinct=True))
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


EXPORT_HEADER = [
    "销售时间 sold_at", "销售单号 sale_id", "批次号 batch", "品名 product_name", "类别 category", "规格 specification",
    "GTIN", "序号 serial", "商品码 token", "码链接 url", "买方 buyer_name", "买方手机 buyer_phone",
    "买方类型 buyer_kind", "统一社会信用代码 buyer_credit_code", "经营户 merchant", "摊位 stall",
]


def export_rows(*, merchant: Merchant, start: datetime | None, end: datetime | None,
                chunk_size: int = 2000) -> Iterator[tuple]:
    """One row per code sold, oldest sale first, read with a server-side cursor in chunks so
    that memory stays bounded whatever the number of rows. Times are naive Asia/Shanghai."""
    kinds = dict(BuyerKind.choices)
    rows = (
        sold_items(merchant=merchant, start=start, end=end)
        .order_by("sale__sold_at", "sale_id", "code__serial")
        .values_list("sale__sold_at", "sale_id", "code__batch__number", "code__line__product_name",
                     "code__line__category", "code__line__specification", "code__line__gtin", "code__serial",
                     "code__token", "sale__buyer_name", "sale__buyer_phone", "sale__buyer_kind",
                     "sale__buyer_credit_code")
    )
    for (sold_at, sale_id, number, product, category, specification, gtin, serial, token, buyer, phone, kind,
         credit_code) in rows.iterator(chunk_size=chunk_size):
        yield (
            sold_at.astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0), sale_id, number, product, category,
            specification, gtin, serial, token,
            code_url(token=token, gtin=gtin, batch_number=number, serial=serial),
            buyer, phone, str(kinds.get(kind, kind)), credit_code, merchant.name, merchant.stall,
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
            found["codes"].append({"token": code.token, "serial": code.serial, "status": code.status,
                                   "batch": code.batch.number})
    for batch in (visible_batches(actor).filter(number__icontains=q).select_related("merchant")
                  .order_by("-created_at")[:SEARCH_LIMIT]):
        found["batches"].append({"number": batch.number, "status": batch.status,
                                 "merchant": {"id": batch.merchant_id, "name": batch.merchant.name}})
    merchants = visible_merchants(actor).filter(Q(name__icontains=q) | Q(licence_no__iexact=q)).select_related("market")
    found["merchants"] = [dict(merchant_ref(m), licence_no=m.licence_no)
                          for m in merchants.order_by("name")[:SEARCH_LIMIT]]
    phone = normalize_mobile(q)
    if phone.isdigit() and len(phone) == 11 and phone.startswith("1"):
        sales = sales_with_codes(visible_sales(actor).filter(buyer_phone=phone)).order_by("-sold_at", "-id")
        found["sales"] = [sale_output(sale, actor) for sale in sales[:SEARCH_LIMIT]]
    return found


# --- EPCIS ----------------------------------------------------------------------------------

def epcis_for_batch(*, batch: Batch, created: datetime) -> dict:
    """The batch's events as an EPCIS 2.0 document (markets.epcis); four queries."""
    lines = [epcis.Line(id=line.pk, product_name=line.product_name, gtin=line.gtin, quantity=line.quantity,
                        received_quantity=line.received_quantity) for line in batch.lines.all()]
    gtins = {line.id: line.gtin for line in lines}
    codes = [
        epcis.CodeRef(token=token, serial=serial, released_at=released_at,
                      uri=code_url(token=token, gtin=gtins.get(line_id, ""), batch_number=batch.number, serial=serial))
        for token, serial, line_id, released_at in batch.codes.order_by("serial")
        .values_list("token", "serial", "line_id", "released_at").iterator(chunk_size=5000)
    ]
    steps = [
        epcis.Step(id=event.pk, action=event.action, status_before=event.status_before, status_after=event.status_after,
                   role=event.role, at=event.at, zone=event.zone, details=event.details,
                   warehouse=epcis.Place(event.warehouse.code, event.warehouse.name) if event.warehouse_id else None)
        for event in batch.events.select_related("warehouse").order_by("id")
    ]
    data = epcis.BatchInput(number=batch.number, market=epcis.Place(batch.market.code, batch.market.name),
                            stall=batch.merchant.stall, lines=lines, codes=codes, steps=steps)
    return epcis.epcis_document(batch=data, base_url=settings.PUBLIC_BASE_URL, created=created)
