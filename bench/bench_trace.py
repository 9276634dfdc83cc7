"""Benchmark (docs/performance.md, Benchmarks): the regulator's trace and the merchant sales export on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_trace.py \
        [--codes 1000000] [--sales 300000] [--lookups 10000] [--export-rows 100000]

Creates its own database `bench_trace` (dropped at the end), loads released batches of varied
sizes, their codes, lifecycle events, sales and sale events with COPY, then prints:

- trace by token: p50 / p99 over `--lookups` random look-ups through the service layer the API
  uses (`markets.selectors.code_trace`, and with the audit record the view adds), beside the
  same look-up as one hand-written SQL statement (json_build_object) in the same run, and the
  ratio of the p99s;
- the number of queries per trace (min and max over every look-up: the same whatever the batch);
- the merchant sales export (CSV, and XLSX) of about `--export-rows` rows streamed through the
  real view, with its time, the time to its first byte, and peak Python memory (tracemalloc, in a
  second run) beside the size of the output. Both formats are written as the rows are read
  (the XLSX as a ZIP on the fly), so the peak stays flat whatever the number of rows.

The SQL statement returns the same information as the service (the code and its line, the
batch with lines, disinfections, samples and results and code counts, the merchant with its
market, the events that concern the code with actor and warehouse names, the current and the
voided sales); what the service adds is computed from those values (QR URL, labels, allowed
actions, an event's place, masked phones). The run checks that both agree on 200 look-ups.
"""

import argparse
import base64
import json
import os
import random
import secrets
import statistics
import sys
import time
import tracemalloc
import warnings
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("VAR_DIR", "/tmp/wh-bench-var")
warnings.filterwarnings("ignore", message="No directory at")  # static files are not served here
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import throwaway_database  # noqa: E402

DB_NAME = os.environ.get("BENCH_DATABASE", "bench_trace")
RECORDED_LOOKUPS = 1000
SIZE_PATTERN = (1, 2, 3)  # codes per sale, in turn: two codes per sale on average
LIFECYCLE = [
    "declare",
    "submit",
    "approve",
    "arrive",
    "disinfect",
    "move_to_resting",
    "sample",
    "test_result",
    "complete_rest",
    "move_to_storage",
    "issue_codes",
    "release",
]

# The same look-up as the service, as one statement: everything `code_trace` returns comes from
# here or is computed from what this returns (the QR URL, status labels, allowed actions, the
# "place" of an event, masked phones): the code and its line, the batch with its lines,
# disinfections, samples and results and code counts, the merchant with its market, the events
# that concern the code with actor names and warehouse names, the current sale and the voided ones.
TRACE_SQL = """
WITH c AS (
    SELECT c.id, c.token, c.serial, c.status, c.issued_at, c.released_at, c.batch_id, c.line_id
    FROM batches_code c
    JOIN batches_batch b ON b.id = c.batch_id
    JOIN markets_market m ON m.id = b.market_id
    WHERE c.token = %(token)s AND m.district_id = %(district)s
), s AS (
    SELECT sa.id, si.voided, sa.sold_at, sa.buyer_name, sa.buyer_phone, sa.buyer_kind, sa.buyer_credit_code,
           sa.voided_at, sa.void_reason
    FROM markets_saleitem si JOIN markets_sale sa ON sa.id = si.sale_id
    WHERE si.code_id = (SELECT id FROM c)
)
SELECT json_build_object(
    'code', (SELECT row_to_json(x) FROM (
        SELECT c.token, c.serial, c.status, c.issued_at, c.released_at, l.product_name, l.specification, l.gtin
        FROM c JOIN batches_batchline l ON l.id = c.line_id) x),
    'batch', (SELECT row_to_json(x) FROM (
        SELECT b.number, b.status, mk.code AS market, mk.name AS market_name, w.code AS warehouse,
               json_build_object('id', me.id, 'name', me.name) AS merchant, b.customs_declaration_no,
               b.rest_until, b.created_at, b.status_changed_at, b.origin_country, b.port_of_entry,
               b.reject_reason, b.cycle, b.rest_started_at,
               (SELECT json_agg(json_build_object('id', l.id, 'product_name', l.product_name, 'category',
                        l.category, 'specification', l.specification, 'quantity', l.quantity,
                        'received_quantity', l.received_quantity, 'type_matches', l.type_matches,
                        'spec_matches', l.spec_matches, 'unit', l.unit, 'gtin', l.gtin) ORDER BY l.id)
                  FROM batches_batchline l WHERE l.batch_id = b.id) AS lines,
               (SELECT json_agg(json_build_object('cycle', d.cycle, 'agent', d.agent, 'concentration',
                        d.concentration, 'method', d.method, 'performed_by', u.username,
                        'performed_at', d.performed_at) ORDER BY d.performed_at, d.id)
                  FROM batches_disinfection d JOIN auth_user u ON u.id = d.performed_by_id
                 WHERE d.batch_id = b.id) AS disinfections,
               (SELECT json_agg(json_build_object('cycle', sp.cycle, 'sample_no', sp.sample_no, 'lab', sp.lab,
                        'taken_at', sp.taken_at, 'results',
                        (SELECT coalesce(json_agg(json_build_object('result', r.result, 'report_no', r.report_no,
                                 'recorded_at', r.recorded_at) ORDER BY r.recorded_at, r.id), '[]')
                           FROM batches_testresult r WHERE r.sample_id = sp.id)) ORDER BY sp.taken_at, sp.id)
                  FROM batches_sample sp WHERE sp.batch_id = b.id) AS samples,
               (SELECT json_build_object('total', count(*),
                        'in_warehouse', count(*) FILTER (WHERE cc.status = 'in_warehouse'),
                        'released', count(*) FILTER (WHERE cc.status = 'released'),
                        'sold', count(*) FILTER (WHERE cc.status = 'sold'),
                        'recalled', count(*) FILTER (WHERE cc.status = 'recalled'))
                  FROM batches_code cc WHERE cc.batch_id = b.id) AS codes
        FROM batches_batch b
        JOIN markets_market mk ON mk.id = b.market_id
        JOIN markets_merchant me ON me.id = b.merchant_id
        LEFT JOIN warehouse_warehouse w ON w.id = b.warehouse_id
        WHERE b.id = (SELECT batch_id FROM c)) x),
    'merchant', (SELECT json_build_object('id', me.id, 'name', me.name, 'stall', me.stall, 'market', mm.code)
                   FROM batches_batch b JOIN markets_merchant me ON me.id = b.merchant_id
                   JOIN markets_market mm ON mm.id = me.market_id
                  WHERE b.id = (SELECT batch_id FROM c)),
    'events', (SELECT json_agg(json_build_object('id', e.id, 'action', e.action, 'status_before', e.status_before,
                        'status_after', e.status_after, 'actor', u.username, 'actor_first_name', u.first_name,
                        'actor_last_name', u.last_name, 'role', e.role, 'at', e.at, 'warehouse', w.code,
                        'warehouse_name', w.name, 'zone', e.zone, 'details', e.details) ORDER BY e.id)
                 FROM batches_event e
                 LEFT JOIN auth_user u ON u.id = e.actor_id
                 LEFT JOIN warehouse_warehouse w ON w.id = e.warehouse_id
                WHERE e.batch_id = (SELECT batch_id FROM c)
                  AND (e.action NOT IN ('sale', 'sale_void')
                       OR e.details -> 'sale' IN (SELECT to_jsonb(s.id) FROM s))
                  AND (e.action <> 'release' OR NOT e.details ? 'codes'
                       OR e.details -> 'codes' ? (SELECT token FROM c))),
    'sale', (SELECT row_to_json(s) FROM s WHERE NOT s.voided),
    'voided_sales', (SELECT coalesce(json_agg(s ORDER BY s.sold_at, s.id), '[]') FROM s WHERE s.voided)
) WHERE EXISTS (SELECT 1 FROM c)
"""


def tokens(count: int) -> list[str]:
    text = base64.b32encode(secrets.token_bytes(15 * count)).decode("ascii")
    return [text[i : i + 24] for i in range(0, 24 * count, 24)]


def new_serials(count: int) -> list[str]:
    text = base64.b32encode(secrets.token_bytes(10 * count)).decode("ascii")
    return [text[i : i + 16] for i in range(0, 16 * count, 16)]


def copy_rows(cursor, model, columns: list[str], rows) -> int:
    """COPY rows into the model's table; any other column gets its field's default or NULL."""
    fields = {f.column: f for f in model._meta.concrete_fields}
    extra = [c for c, f in fields.items() if c not in columns and not f.primary_key]
    defaults = [fields[c].get_default() if fields[c].has_default() else None for c in extra]
    defaults = [json.dumps(v) if isinstance(v, (dict, list)) else v for v in defaults]
    names = ", ".join(f'"{c}"' for c in columns + extra)
    count = 0
    with cursor.copy(f'COPY "{model._meta.db_table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row((*row, *defaults))
            count += 1
    return count


@contextmanager
def indexes_built_after(cursor, models):
    """As pg_restore loads: the tables' secondary indexes and unique constraints are dropped
    before the COPY and built again after it (one sort each instead of millions of random B-tree
    inserts), and foreign-key triggers are off while it runs (session_replication_role =
    replica; the rows are generated consistent). The tables end with the very indexes the
    migrations made: their definitions are read from the catalogue and replayed."""
    tables = [model._meta.db_table for model in models]
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s)",
        [tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [tables],
    )
    indexes = cursor.fetchall()
    for table, name, _definition in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for table, name, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _name, definition in indexes:
            cursor.execute(definition)


WAREHOUSES_PER_DISTRICT = 10
SCALES = {  # --scale: codes, sales, warehouses
    "city": (1_000_000, 300_000, 20),
    "province": (10_000_000, 3_000_000, 200),
}


def more_districts(warehouses: int) -> list[dict]:
    """For `--warehouses N`: the demo district SC gets WAREHOUSES_PER_DISTRICT warehouses in all,
    and further districts of as many warehouses, three markets and seven stall holders each, make
    up the N (a province of district bureaus; each regulator sees one district, SPEC §2). Returns
    each district's merchants and its warehouses with their operators, SC first."""
    from django.contrib.auth import get_user_model

    from markets.models import District, Market, Merchant
    from warehouse.models import Operator, Warehouse, Zone, ZoneKind

    User = get_user_model()
    count = max(1, -(-warehouses // WAREHOUSES_PER_DISTRICT))
    result = []
    for d in range(count):
        if d == 0:
            district = District.objects.get(code="SC")
            markets = list(Market.objects.filter(district=district).order_by("code"))
        else:
            district = District.objects.create(code=f"D{d:02d}", name=f"测试区 {d}")
            markets = [
                Market.objects.create(code=f"D{d:02d}-M{m}", name=f"市场 {d}-{m}", district=district) for m in range(3)
            ]
        have = list(Warehouse.objects.filter(district=district).order_by("code"))
        for w in range(len(have), min(WAREHOUSES_PER_DISTRICT, warehouses - d * WAREHOUSES_PER_DISTRICT)):
            warehouse = Warehouse.objects.create(code=f"D{d:02d}-WH-{w}", name=f"监管仓 {d}-{w}", district=district)
            warehouse.markets.set([markets[w % len(markets)]])
            Zone.objects.bulk_create(Zone(warehouse=warehouse, kind=kind) for kind in ZoneKind)
            user = User.objects.create(username=f"bench-operator-{d}-{w}")
            Operator.objects.create(user=user, warehouse=warehouse)
            have.append(warehouse)
        operators = {o.warehouse_id: o.user_id for o in Operator.objects.filter(warehouse__in=have).order_by("-pk")}
        merchants = []
        if d:
            for i in range(7):
                user = User.objects.create(username=f"bench-merchant-{d}-{i}", first_name=f"商行{d}-{i}")
                merchants.append(
                    Merchant.objects.create(
                        user=user,
                        market=markets[i % 3],
                        name=f"测试商行 {d}-{i}",
                        stall=f"{d}-{i}",
                        licence_no=f"BENCH{d:04d}{i:09d}",
                        phone=f"1390{d:03d}{i:04d}",
                    )
                )
        result.append({"warehouses": [(w.pk, operators[w.pk]) for w in have], "merchants": merchants})
    return result


def load(*, codes_total: int, sales_total: int, export_rows: int, warehouses: int | None = None, seed: int = 4) -> dict:
    """Released batches of varied sizes with their records, codes, sales and events, by COPY.
    With `warehouses`, the batches are spread over the districts of more_districts() (the demo
    district's share to its own merchants as before); only the demo district's tokens are returned
    (the regulator's trace answers within the district)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from batches.demo import create_demo_organisations
    from batches.models import Batch, BatchLine, Code, Disinfection, Event, Sample, TestResult
    from markets.models import Market, Merchant, Sale, SaleItem
    from warehouse.models import Warehouse

    rnd = random.Random(seed)
    create_demo_organisations(password="bench-pass-123")
    users = {u.username: u.pk for u in get_user_model().objects.all()}
    markets = {m.code: m for m in Market.objects.all()}
    warehouse_of = {
        "MKT-A": Warehouse.objects.get(code="WH-1").pk,
        "MKT-B": Warehouse.objects.get(code="WH-1").pk,
        "MKT-C": Warehouse.objects.get(code="WH-2").pk,
    }
    operator_of = {"MKT-A": users["operator-1"], "MKT-B": users["operator-1"], "MKT-C": users["operator-2"]}
    # Twenty more stall holders, so that the big merchant is one among many.
    User = get_user_model()
    for i in range(20):
        code = "ABC"[i % 3]
        user = User.objects.create(username=f"bench-merchant-{i}", first_name=f"商行{i}")
        Merchant.objects.create(
            user=user,
            market=markets[f"MKT-{code}"],
            name=f"测试进口服饰商行 {i}",
            stall=f"{code}-{300 + i}",
            licence_no=f"BENCH{i:013d}",
            phone=f"1380000{i:04d}",
        )
    merchants = list(Merchant.objects.select_related("market").order_by("pk"))
    big = next(m for m in merchants if m.user_id == users["merchant-a1"])
    others = [m for m in merchants if m.pk != big.pk]
    districts = more_districts(warehouses) if warehouses else []
    market_codes = {m.pk: m.code for m in Market.objects.all()}

    # Batch sizes between 20 % and 180 % of 1,000, the last one taking up the rest.
    sizes, left = [], codes_total
    while left > 0:
        size = min(left, rnd.randint(200, 1800))
        sizes.append(size)
        left -= size
    sales_per_code = sales_total / codes_total
    now = timezone.now()
    start = now - timedelta(days=40)
    # Batches 17 minutes apart at a million codes; at larger scales closer, so that every scale
    # spans the same weeks (a province declares more per day, not over more months).
    apart = timedelta(minutes=17) * min(1.0, 1_000_000 / codes_total)
    sold_per_batch = [min(round(size * sales_per_code), size // 2) for size in sizes]
    big_target = export_rows

    batch_rows, line_rows, disinfection_rows, sample_rows, result_rows = [], [], [], [], []
    code_rows, event_rows, sale_rows, item_rows = [], [], [], []
    code_id = sale_id = event_id = 0
    big_rows = 0
    all_tokens = []
    for index, size in enumerate(sizes, start=1):
        district = index % len(districts) if districts else 0
        if district == 0:
            merchant = big if big_rows < big_target else others[index % len(others)]
            market = merchant.market.code
            warehouse, operator = warehouse_of[market], operator_of[market]
        else:
            merchant = districts[district]["merchants"][(index // len(districts)) % 7]
            market = market_codes[merchant.market_id]
            own = districts[district]["warehouses"]
            warehouse, operator = own[(index // len(districts)) % len(own)]
        declared = start + apart * index
        rest_start = declared + timedelta(hours=2)
        rest_until = rest_start + timedelta(days=7)
        released = rest_until + timedelta(hours=3)
        number = f"{market}-{declared:%Y%m%d}-{index:05d}"
        batch_rows.append(
            (
                index,
                number,
                merchant.market_id,
                merchant.pk,
                warehouse,
                "released",
                f"3101{index:014d}",
                "IT",
                "上海浦东",
                "",
                1,
                rest_start,
                rest_until,
                declared,
                released,
                released,
            )
        )
        gtin_size = size // 2
        line_a, line_b = 2 * index - 1, 2 * index
        line_rows.append(
            (line_a, index, "羊毛大衣", "服装", "女款 M 码", gtin_size, "件", "09506000134352", gtin_size, True, True)
        )
        line_rows.append(
            (
                line_b,
                index,
                "真丝围巾",
                "服饰配件",
                "180×70 cm",
                size - gtin_size,
                "条",
                "",
                size - gtin_size,
                True,
                True,
            )
        )
        disinfection_rows.append(
            (index, index, 1, "含氯消毒剂", "500 mg/L", "喷洒", operator, declared + timedelta(hours=1))
        )
        sample_rows.append((index, index, 1, "S1", "杭州市疾控中心", operator, rest_start + timedelta(hours=1)))
        result_rows.append((index, index, "negative", f"R-{index}", operator, rest_start + timedelta(days=1)))
        steps = [
            ("declare", "", "draft", merchant.user_id, "merchant", declared, None, "", {"lines": 2}),
            ("submit", "draft", "submitted", merchant.user_id, "merchant", declared, None, "", {}),
            (
                "approve",
                "submitted",
                "approved",
                users["reviewer-a"],
                "reviewer",
                declared,
                warehouse,
                "",
                {"warehouse": "WH-1"},
            ),
            ("arrive", "approved", "pre_storage", operator, "operator", declared, warehouse, "pre_storage", {}),
            (
                "disinfect",
                "pre_storage",
                "pre_storage",
                operator,
                "operator",
                declared,
                warehouse,
                "pre_storage",
                {"agent": "含氯消毒剂"},
            ),
            (
                "move_to_resting",
                "pre_storage",
                "resting",
                operator,
                "operator",
                rest_start,
                warehouse,
                "resting",
                {"rest_until": rest_until.isoformat()},
            ),
            (
                "sample",
                "resting",
                "resting",
                operator,
                "operator",
                rest_start,
                warehouse,
                "resting",
                {"sample_no": "S1"},
            ),
            (
                "test_result",
                "resting",
                "resting",
                operator,
                "operator",
                rest_start,
                warehouse,
                "resting",
                {"sample_no": "S1", "result": "negative"},
            ),
            ("complete_rest", "resting", "rest_complete", None, "system", rest_until, warehouse, "resting", {}),
            ("move_to_storage", "rest_complete", "stored", operator, "operator", rest_until, warehouse, "storage", {}),
            (
                "issue_codes",
                "stored",
                "coded",
                operator,
                "operator",
                rest_until,
                warehouse,
                "storage",
                {"issued": size},
            ),
            (
                "release",
                "coded",
                "released",
                operator,
                "operator",
                released,
                warehouse,
                "",
                {"all": True, "count": size},
            ),
        ]
        for action, before, after, actor, role, at, wh, zone, details in steps:
            event_id += 1
            event_rows.append((event_id, index, action, before, after, actor, role, at, wh, zone, json.dumps(details)))

        batch_tokens, batch_serials = tokens(size), new_serials(size)
        first_code = code_id + 1
        for item_no in range(1, size + 1):
            code_id += 1
            line = line_a if item_no <= gtin_size else line_b
            code_rows.append(
                [
                    code_id,
                    index,
                    line,
                    item_no,
                    batch_serials[item_no - 1],
                    batch_tokens[item_no - 1],
                    "released",
                    rest_until,
                    released,
                ]
            )
        if district == 0:
            all_tokens += batch_tokens

        # Sales: consecutive codes, 1, 2, 3, 1, ... per sale, spread over the days after release.
        serial, span = 0, (now - released).total_seconds()
        for k in range(sold_per_batch[index - 1]):
            count = SIZE_PATTERN[k % len(SIZE_PATTERN)]
            if serial + count > size:
                break
            sale_id += 1
            sold_at = released + timedelta(seconds=span * (k + 1) / (sold_per_batch[index - 1] + 1))
            phone = f"13{rnd.randrange(10**9):09d}"
            sale_rows.append(
                (
                    sale_id,
                    merchant.pk,
                    merchant.user_id,
                    f"买家{sale_id}",
                    phone,
                    "consumer" if sale_id % 5 else "business",
                    "",
                    sold_at,
                    None,
                    None,
                    "",
                )
            )
            sold_tokens = []
            for _ in range(count):
                item_code = first_code + serial
                code_rows[item_code - 1][6] = "sold"
                item_rows.append((item_code, sale_id, item_code, False))
                sold_tokens.append(batch_tokens[serial])
                serial += 1
            event_id += 1
            event_rows.append(
                (
                    event_id,
                    index,
                    "sale",
                    "released",
                    "released",
                    merchant.user_id,
                    "merchant",
                    sold_at,
                    warehouse,
                    "",
                    json.dumps({"sale": sale_id, "count": count, "codes": sold_tokens}),
                )
            )
            if merchant.pk == big.pk:
                big_rows += count

    bulk = (Code, Event, Sale, SaleItem)
    with connection.cursor() as django_cursor, indexes_built_after(django_cursor.cursor, bulk):
        cursor = django_cursor.cursor
        loaded = {
            "batches": copy_rows(
                cursor,
                Batch,
                [
                    "id",
                    "number",
                    "market_id",
                    "merchant_id",
                    "warehouse_id",
                    "status",
                    "customs_declaration_no",
                    "origin_country",
                    "port_of_entry",
                    "reject_reason",
                    "cycle",
                    "rest_started_at",
                    "rest_until",
                    "created_at",
                    "updated_at",
                    "status_changed_at",
                ],
                batch_rows,
            ),
            "lines": copy_rows(
                cursor,
                BatchLine,
                [
                    "id",
                    "batch_id",
                    "product_name",
                    "category",
                    "specification",
                    "quantity",
                    "unit",
                    "gtin",
                    "received_quantity",
                    "type_matches",
                    "spec_matches",
                ],
                line_rows,
            ),
            "disinfections": copy_rows(
                cursor,
                Disinfection,
                ["id", "batch_id", "cycle", "agent", "concentration", "method", "performed_by_id", "performed_at"],
                disinfection_rows,
            ),
            "samples": copy_rows(
                cursor, Sample, ["id", "batch_id", "cycle", "sample_no", "lab", "taken_by_id", "taken_at"], sample_rows
            ),
            "results": copy_rows(
                cursor,
                TestResult,
                ["id", "sample_id", "result", "report_no", "recorded_by_id", "recorded_at"],
                result_rows,
            ),
            "codes": copy_rows(
                cursor,
                Code,
                ["id", "batch_id", "line_id", "item_no", "serial", "token", "status", "issued_at", "released_at"],
                code_rows,
            ),
            "events": copy_rows(
                cursor,
                Event,
                [
                    "id",
                    "batch_id",
                    "action",
                    "status_before",
                    "status_after",
                    "actor_id",
                    "role",
                    "at",
                    "warehouse_id",
                    "zone",
                    "details",
                ],
                event_rows,
            ),
            "sales": copy_rows(
                cursor,
                Sale,
                [
                    "id",
                    "merchant_id",
                    "sold_by_id",
                    "buyer_name",
                    "buyer_phone",
                    "buyer_kind",
                    "buyer_credit_code",
                    "sold_at",
                    "voided_at",
                    "voided_by_id",
                    "void_reason",
                ],
                sale_rows,
            ),
            "sale items": copy_rows(cursor, SaleItem, ["id", "sale_id", "code_id", "voided"], item_rows),
        }
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        for model in (Batch, BatchLine, Disinfection, Sample, TestResult, Code, Event, Sale, SaleItem):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cursor.execute("ANALYZE")
    return {
        "loaded": loaded,
        "tokens": all_tokens,
        "big_merchant": big,
        "big_rows": big_rows,
        "sizes": (min(sizes), max(sizes)),
        "districts": len(districts),
    }


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def bench_trace(all_tokens, lookups: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from batches.actors import actor_for
    from markets.selectors import code_trace
    from markets.services import trace_query_record

    actor = actor_for(get_user_model().objects.get(username="regulator"))
    rnd = random.Random(7)
    sample = [rnd.choice(all_tokens) for _ in range(lookups)]
    warm = [rnd.choice(all_tokens) for _ in range(300)]
    queries = []

    def counting(execute, sql, params, many, context):
        queries[-1] += 1
        return execute(sql, params, many, context)

    def by_service(token):
        trace = code_trace(actor=actor, token=token)
        assert trace is not None and trace["code"]["token"] == token
        return trace

    def by_service_recorded(token):
        trace = by_service(token)
        trace_query_record(actor=actor, kind="code", subject=token, result_count=len(trace["events"]))

    raw = connection.cursor().cursor  # the psycopg cursor under Django's

    def by_sql(token):
        raw.execute(TRACE_SQL, {"token": token, "district": actor.district_id})
        row = raw.fetchone()
        assert row is not None and row[0]["code"]["token"] == token
        return row[0]

    for token in warm:
        by_service(token), by_sql(token)
    service, recorded, sql = [], [], []
    for i, token in enumerate(sample):
        # Interleaved, order alternating, so that caches favour neither; the variant with the
        # audit record (an INSERT per look-up) on the first RECORDED_LOOKUPS only.
        order = [("sql", by_sql), ("service", by_service)]
        if i < RECORDED_LOOKUPS:
            order.append(("recorded", by_service_recorded))
        if i % 2:
            order.reverse()
        for name, fn in order:
            if name == "service":
                queries.append(0)
                with connection.execute_wrapper(counting):
                    t = time.perf_counter()
                    fn(token)
                    elapsed = time.perf_counter() - t
            else:
                t = time.perf_counter()
                fn(token)
                elapsed = time.perf_counter() - t
            {"sql": sql, "service": service, "recorded": recorded}[name].append(elapsed * 1000)
    for token in sample[:200]:  # the two answer with the same information
        assert comparable(by_service(token)) == comparable_sql(by_sql(token)), token
    return {"service": service, "recorded": recorded, "sql": sql, "queries": (min(queries), max(queries))}


def bench_dashboard(rounds: int) -> dict:
    """The regulator's dashboard page (GET /dashboard/) through the real view, `rounds` times."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username="regulator"))
    for _ in range(5):
        assert client.get("/dashboard/").status_code == 200
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        response = client.get("/dashboard/")
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get("/dashboard/")
    return {"times": times, "queries": len(queries.captured_queries)}


def comparable(trace: dict) -> dict:
    """What the service's answer says, reduced to values the SQL's answer has too."""
    batch = trace["batch"]
    sale = trace["sale"]
    return {
        "code": [trace["code"][k] for k in ("token", "serial", "status", "product_name", "specification", "gtin")],
        "batch": [
            batch["number"],
            batch["status"],
            batch["market"],
            batch["warehouse"],
            batch["merchant"],
            batch["customs_declaration_no"],
            batch["cycle"],
        ],
        "lines": batch["lines"],
        "disinfections": [(d["agent"], d["performed_by"]) for d in batch["disinfections"]],
        "samples": [(s["sample_no"], [r["result"] for r in s["results"]]) for s in batch["samples"]],
        "counts": batch["codes"],
        "merchant": trace["merchant"],
        "events": [(e["id"], e["action"], e["actor"], e["warehouse"], e["details"]) for e in trace["events"]],
        "sale": sale and (sale["id"], sale["buyer_name"], sale["buyer_phone"]),
        "voided": [v["id"] for v in trace["voided_sales"]],
    }


def comparable_sql(answer: dict) -> dict:
    batch = answer["batch"]
    sale = answer["sale"]
    return {
        "code": [answer["code"][k] for k in ("token", "serial", "status", "product_name", "specification", "gtin")],
        "batch": [
            batch["number"],
            batch["status"],
            batch["market"],
            batch["warehouse"],
            batch["merchant"],
            batch["customs_declaration_no"],
            batch["cycle"],
        ],
        "lines": batch["lines"],
        "disinfections": [(d["agent"], d["performed_by"]) for d in batch["disinfections"] or []],
        "samples": [(s["sample_no"], [r["result"] for r in s["results"]]) for s in batch["samples"] or []],
        "counts": batch["codes"],
        "merchant": answer["merchant"],
        "events": [(e["id"], e["action"], e["actor"], e["warehouse"], e["details"]) for e in answer["events"] or []],
        "sale": sale and (sale["id"], sale["buyer_name"], sale["buyer_phone"]),
        "voided": [v["id"] for v in answer["voided_sales"]],
    }


def bench_export(merchant, fmt: str, measure_memory: bool) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="regulator"))
    if measure_memory:
        tracemalloc.start()
    t = time.perf_counter()
    response = client.get(f"/api/trace/merchants/{merchant.pk}/sales/?format={fmt}")
    assert response.status_code == 200, response.status_code
    size = lines = 0
    first = None
    for chunk in response.streaming_content:
        if first is None:
            first = time.perf_counter() - t
        size += len(chunk)
        if fmt == "csv":
            lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - t
    peak = None
    if measure_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    response.close()
    return {
        "seconds": elapsed,
        "first_byte": first,
        "bytes": size,
        "rows": lines - 1 if fmt == "csv" else None,
        "peak": peak,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale",
        choices=sorted(SCALES),
        help="city: 1 M codes, 300 k sales, 20 warehouses in 2 districts; province: 10 M, 3 M, 200 in 20 "
        "(overrides --codes, --sales and --warehouses)",
    )
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--sales", type=int, default=300_000)
    parser.add_argument(
        "--warehouses", type=int, help="spread the batches over districts of 10 warehouses (default: the demo's 2)"
    )
    parser.add_argument("--dashboard-rounds", type=int, default=200)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--export-rows", type=int, default=100_000, help="codes the big merchant sells")
    parser.add_argument("--skip-xlsx", action="store_true")
    args = parser.parse_args()
    if args.scale:
        args.codes, args.sales, args.warehouses = SCALES[args.scale]

    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/test).")
    connection.settings_dict.setdefault("TEST", {})["NAME"] = DB_NAME
    command = " ".join(["bench/bench_trace.py", *sys.argv[1:]])
    with throwaway_database():
        t = time.perf_counter()
        data = load(
            codes_total=args.codes, sales_total=args.sales, export_rows=args.export_rows, warehouses=args.warehouses
        )
        loaded = data["loaded"]
        print(f"$ {command}")
        print(
            f"database {DB_NAME}: loaded in {time.perf_counter() - t:.1f} s — "
            + ", ".join(f"{n:,} {name}" for name, n in loaded.items())
            + f" (batches of {data['sizes'][0]:,}–{data['sizes'][1]:,} codes)"
            + (f"; {args.warehouses} warehouses in {data['districts']} districts" if args.warehouses else "")
        )
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")

        trace = bench_trace(data["tokens"], args.lookups)
        print(f"\ntrace by token, {args.lookups:,} random look-ups (ms):")
        rows = [
            ("service layer (code_trace)", trace["service"]),
            (f"  + audit record (first {len(trace['recorded']):,})", trace["recorded"]),
            ("one hand-written SQL", trace["sql"]),
        ]
        for name, values in rows:
            print(
                f"  {name:30} p50 {percentile(values, 50):6.2f}   p99 {percentile(values, 99):6.2f}   "
                f"mean {statistics.fmean(values):6.2f}"
            )
        sql_p99 = percentile(trace["sql"], 99)
        print(
            f"  p99 ratio service / SQL: {percentile(trace['service'], 99) / sql_p99:.2f}×"
            f"  (with the audit record: {percentile(trace['recorded'], 99) / sql_p99:.2f}×; target ≤ 3×)"
        )
        low, high = trace["queries"]
        print(
            f"  queries per trace: {low}"
            + (f"–{high}" if high != low else "")
            + f" (every look-up; batches of {data['sizes'][0]:,}–{data['sizes'][1]:,} codes)"
        )

        dashboard = bench_dashboard(args.dashboard_rounds)
        times = dashboard["times"]
        print(
            f"\nregulator's dashboard (GET /dashboard/, district SC), {len(times)} requests (ms): "
            f"p50 {percentile(times, 50):6.2f}   p99 {percentile(times, 99):6.2f}   mean {statistics.fmean(times):6.2f}"
            f"; {dashboard['queries']} queries"
        )

        merchant = data["big_merchant"]
        print(f"\nmerchant sales export, {merchant.name} (id {merchant.pk}), {data['big_rows']:,} codes sold:")
        for fmt in ("csv",) if args.skip_xlsx else ("csv", "xlsx"):
            timed = bench_export(merchant, fmt, measure_memory=False)
            traced = bench_export(merchant, fmt, measure_memory=True)
            rows = f"{timed['rows']:,} rows, " if timed["rows"] is not None else ""
            print(
                f"  {fmt:5} {rows}{timed['bytes'] / 1e6:.1f} MB streamed in {timed['seconds']:.2f} s, first byte "
                f"after {timed['first_byte']:.2f} s; peak Python memory {traced['peak'] / 1e6:.2f} MB "
                f"(tracemalloc, {traced['seconds']:.2f} s traced)"
            )
        print(
            f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
            f"on {os.cpu_count()} CPUs (figures are wall-clock times on this machine)"
        )


if __name__ == "__main__":
    main()
