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
from django.db.models import Count, Max, Min, Prefetch, Q, QuerySet, prefetch_related_objects

from batches.actors import Actor, visible_batches, visible_codes
from batches.api.serializers import BatchDetail
from batches.codes import codes_for_scans, parse_code_scan
from batches.models import Batch, Code, Disinfection, Event, Role
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


def buyer_output(sale: Sale, actor: Actor | None) -> dict:
    return {
        "id": sale.pk,
        "sold_at": local_iso(sale.sold_at),
        "buyer_name": sale.buyer_name,
        "buyer_phone": shown_phone(actor, sale.buyer_phone),
        "buyer_kind": sale.buyer_kind,
        "buyer_credit_code": sale.buyer_credit_code,
        "voided_at": local_iso(sale.voided_at),
        "void_reason": sale.void_reason,
    }


# --- events as the trace shows them ---------------------------------------------------------

def event_output(event: Event, batch: Batch) -> dict:
    """An event with who, when (Asia/Shanghai) and where: the warehouse and zone, or for a
    sale the market and stall."""
    if event.action in SALE_ACTIONS:
        place = f"{batch.market.name} {batch.merchant.stall}"
    elif event.warehouse_id:
        zone = f" · {ZoneKind(event.zone).label}" if event.zone in ZoneKind.values else ""
        place = f"{event.warehouse.name}{zone}"
    else:
        place = batch.market.name
    actor = event.actor
    return {
        "id": event.pk,
        "action": event.action,
        "status_before": event.status_before,
        "status_after": event.status_after,
        "actor": actor.username if actor else None,
        "actor_name": (actor.get_full_name() or actor.username) if actor else None,
        "role": event.role,
        "at": local_iso(event.at),
        "warehouse": event.warehouse.code if event.warehouse_id else None,
        "zone": event.zone,
        "place": place,
        "details": event.details,
    }


def _names_code(value: str, code: Code) -> bool:
    ref = parse_code_scan(value)
    return bool(ref) and (ref.token == code.token or (ref.lot == code.batch.number and ref.serial == code.serial))


def _concerns_code(event: Event, code: Code) -> bool:
    """A release naming codes concerns only those; every other batch event concerns all its codes."""
    codes = event.details.get("codes") if event.action == "release" else None
    return not isinstance(codes, list) or any(_names_code(value, code) for value in codes)


def batch_detail_output(batch: Batch, actor: Actor) -> dict:
    """The batch detail (SPEC §4) of an already fetched batch: its records in four queries,
    its code counts in one. It holds no buyer and no personal data."""
    prefetch_related_objects(
        [batch], "lines", Prefetch("disinfections", queryset=Disinfection.objects.select_related("performed_by")),
        "samples__results",
    )
    return dict(BatchDetail(batch, context={"actor": actor}).data)


TRACE_RELATED = ("line", "batch__market", "batch__warehouse", "batch__merchant__market")


# --- the trace of one code ------------------------------------------------------------------

def code_trace(*, actor: Actor, token: str) -> dict | None:
    """The whole chain of one code in order — declaration, approval, arrival, disinfection,
    rest, samples and results, storage, coding, release, sale — with its current sale and
    buyer. None if the code is outside the actor's scope. Eight queries whatever the batch:
    the code with its batch, the batch's lines, disinfections, samples, results and code
    counts, the code's sales, the events."""
    ref = parse_code_scan(token)
    if ref is None:
        return None
    codes = visible_codes(actor).select_related(*TRACE_RELATED).order_by()  # no join for Meta.ordering
    if ref.token:
        code = next(iter(codes.filter(token=ref.token)[:1]), None)
    else:
        code = codes_for_scans([token], queryset=codes)[token]
    if code is None:
        return None
    batch = code.batch
    detail = batch_detail_output(batch, actor)
    items = list(SaleItem.objects.filter(code=code).select_related("sale").order_by("sale__sold_at", "sale_id"))
    sale_ids = [item.sale_id for item in items]
    events = (
        batch.events.filter(~Q(action__in=SALE_ACTIONS) | Q(action__in=SALE_ACTIONS, details__sale__in=sale_ids))
        .select_related("actor", "warehouse").order_by("id")
    )
    active = next((item.sale for item in items if not item.voided), None)
    return {
        "code": {
            "token": code.token,
            "serial": code.serial,
            "status": code.status,
            "url": code_url(token=code.token, gtin=code.line.gtin, batch_number=batch.number, serial=code.serial),
            "product_name": code.line.product_name,
            "specification": code.line.specification,
            "gtin": code.line.gtin,
            "issued_at": local_iso(code.issued_at),
            "released_at": local_iso(code.released_at),
        },
        "batch": detail,
        "merchant": merchant_ref(batch.merchant),
        "events": [event_output(event, batch) for event in events if _concerns_code(event, code)],
        "sale": buyer_output(active, actor) if active else None,
        "voided_sales": [buyer_output(item.sale, actor) for item in items if item.voided],
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
    events = batch.events.select_related("actor", "warehouse").order_by("id")
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
        "timeline": [event_output(event, batch) for event in events],
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
