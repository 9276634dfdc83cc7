"""The regulator's trace (SPEC §4): the chain of one code, the fate of a batch, how much
a merchant sold and to whom (JSON, CSV, XLSX), search — district-scoped, every query recorded."""

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from batches.models import Batch
from markets.models import District, Merchant, Regulator, TraceQuery
from markets.selectors import export_rows
from tests.conftest import LINES, MARKET_B, Flow

SHANGHAI = ZoneInfo("Asia/Shanghai")
WHOLE_CHAIN = [
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
    "sale",
]


@pytest.fixture
def outsider(api):
    """A regulator of another district (西湖区): sees nothing of 上城区."""
    district = District.objects.create(code="XH", name="杭州市西湖区")
    user = get_user_model().objects.create_user("regulator-xh", password="x")
    Regulator.objects.create(user=user, district=district)
    return api("regulator-xh")


def merchant_id(number):
    return Batch.objects.get(number=number).merchant_id


def test_the_regulator_traces_one_code_through_the_whole_chain(flow, clock, sell, api):
    codes = flow.released(clock)
    clock.shift(3600)
    sell([codes[0]["token"]], buyer_name="王小姐", buyer_phone="13912345678")

    response = api("regulator").get(f"/api/trace/codes/{codes[0]['token']}/")

    assert response.status_code == 200, response.content
    trace = response.json()
    assert trace["code"]["token"] == codes[0]["token"] and trace["code"]["status"] == "sold"
    assert trace["merchant"] == {
        "id": merchant_id(flow.number),
        "name": "杭州望江服饰商行",
        "stall": "A-101",
        "market": "MKT-A",
    }
    assert [event["action"] for event in trace["events"]] == WHOLE_CHAIN
    assert all(event["at"].endswith("+08:00") for event in trace["events"])
    by_action = {event["action"]: event for event in trace["events"]}
    assert (by_action["disinfect"]["actor"], by_action["disinfect"]["warehouse"], by_action["disinfect"]["zone"]) == (
        "operator-1",
        "WH-1",
        "pre_storage",
    )
    assert by_action["disinfect"]["place"] == "望江集中监管仓 · 仓前区"
    assert by_action["test_result"]["details"]["result"] == "negative"
    assert by_action["complete_rest"]["role"] == "system"
    assert by_action["sale"]["actor"] == "merchant-a1" and "A-101" in by_action["sale"]["place"]
    sale = trace["sale"]
    assert (sale["buyer_name"], sale["buyer_phone"], sale["buyer_kind"]) == ("王小姐", "13912345678", "consumer")
    # The batch as the detail shows it, with no personal data in it.
    assert trace["batch"]["number"] == flow.number and trace["batch"]["codes"]["sold"] == 1
    assert "13912345678" not in str(trace["batch"]) and "王小姐" not in str(trace["batch"])


def test_a_code_not_sold_yet_has_no_sale_and_a_voided_sale_is_kept_aside(flow, clock, sell, api):
    codes = flow.released(clock)
    assert api("regulator").get(f"/api/trace/codes/{codes[1]['token']}/").json()["sale"] is None

    sale = sell([codes[1]["token"]])
    api("merchant-a1").post(f"/api/sales/{sale['id']}/void/", {"reason": "退货"}, format="json")
    trace = api("regulator").get(f"/api/trace/codes/{codes[1]['token']}/").json()

    assert trace["sale"] is None and trace["voided_sales"][0]["void_reason"] == "退货"
    assert [e["action"] for e in trace["events"]][-2:] == ["sale", "sale_void"]


def test_a_codes_trace_names_only_its_own_releases_and_sales(flow, clock, sell, api):
    flow.coded(clock)
    codes = flow.codes()
    flow.post("operator-1", "release", {"codes": [codes[0]["token"]]})
    flow.post("operator-1", "release", {"codes": [codes[1]["token"]]})
    sell([codes[0]["token"]])
    sell([codes[1]["token"]], buyer_phone="13700000002")

    trace = api("regulator").get(f"/api/trace/codes/{codes[1]['token']}/").json()

    releases = [e for e in trace["events"] if e["action"] == "release"]
    sales = [e for e in trace["events"] if e["action"] == "sale"]
    assert [r["details"]["codes"] for r in releases] == [[codes[1]["token"]]]
    assert [s["details"]["codes"] for s in sales] == [[codes[1]["token"]]]


class BigFlow(Flow):
    """A batch of `size` garments on one line (no GTIN)."""

    size = 400

    def declare(self, **overrides):
        line = dict(LINES[1], quantity=self.size)
        return super().declare(lines=[line], **overrides)


def test_tracing_a_code_reads_a_fixed_number_of_queries_whatever_the_batch(
    flow, clock, sell, api, django_assert_max_num_queries
):
    small = flow.released(clock)
    sell([small[0]["token"]])
    big = BigFlow(api)
    big.coded(clock)
    tokens = [code.token for code in Batch.objects.get(number=big.number).codes.order_by("item_no")]
    for start in range(0, 100, 10):  # ten partial releases, then the rest
        big.post("operator-1", "release", {"codes": tokens[start : start + 10]})
    big.post("operator-1", "release", {"all": True})
    for start in range(0, 300, 3):  # a hundred sales
        sell(tokens[start : start + 3], buyer_phone=f"139{start:08d}")

    regulator, counts = api("regulator"), []
    for token in (small[0]["token"], tokens[0], tokens[299]):
        # auth, actor, code, lines, disinfections, samples, results, code counts, sale, events, record
        with django_assert_max_num_queries(11), CaptureQueriesContext(connection) as queries:
            assert regulator.get(f"/api/trace/codes/{token}/").status_code == 200
        counts.append(len(queries))
    assert len(set(counts)) == 1, counts


def test_only_regulators_trace_and_only_in_their_district(flow, clock, api, outsider, new_flow):
    token = flow.released(clock)[0]["token"]
    url = f"/api/trace/codes/{token}/"

    assert api(None).get(url).status_code == 401
    assert api("merchant-a1").get(url).status_code == 403  # own code: visible, but no trace
    assert api("operator-1").get(url).status_code == 403
    assert api("reviewer-a").get(url).status_code == 403
    assert api("merchant-b1").get(url).status_code == 404  # not theirs: not revealed
    assert api("operator-2").get(url).status_code == 404
    assert outsider.get(url).status_code == 404
    assert api("regulator").get("/api/trace/codes/AAAAAAAAAAAAAAAAAAAAAAAA/").status_code == 404
    for path in (
        f"/api/trace/batches/{flow.number}/",
        f"/api/trace/batches/{flow.number}/epcis/",
        f"/api/trace/merchants/{merchant_id(flow.number)}/sales/",
    ):
        assert api("merchant-a1").get(path).status_code == 403, path
        assert api("merchant-b1").get(path).status_code == 404, path
        assert outsider.get(path).status_code == 404, path
        assert api(None).get(path).status_code == 401, path
    assert api("merchant-a1").get("/api/trace/search/?q=A-101").status_code == 403


def test_the_trace_of_a_batch_counts_where_every_code_went(flow, clock, sell, api):
    flow.coded(clock)
    codes = flow.codes()
    flow.post("operator-1", "release", {"codes": [c["token"] for c in codes[:4]]})
    sell([codes[0]["token"], codes[1]["token"]], buyer_name="王小姐", buyer_phone="13912345678")
    voided = sell([codes[2]["token"]], buyer_name="李先生", buyer_phone="13700000009")
    api("merchant-a1").post(f"/api/sales/{voided['id']}/void/", {"reason": "退货"}, format="json")

    trace = api("regulator").get(f"/api/trace/batches/{flow.number}/").json()

    assert trace["counts"] == {
        "issued": 5,
        "in_warehouse": 1,
        "released": 2,
        "sold": 2,
        "recalled": 0,
        "voided": 1,
        "sales": 1,
        "buyers": 1,
    }
    (buyer,) = trace["buyers"]
    assert (buyer["buyer_name"], buyer["buyer_phone"], buyer["codes"]) == ("王小姐", "13912345678", 2)
    assert [e["action"] for e in trace["timeline"]][-5:] == ["issue_codes", "release", "sale", "sale", "sale_void"]


def test_how_much_a_merchant_sold_and_to_whom(flow, clock, sell, api, new_flow):
    codes = flow.released(clock)
    sell([codes[0]["token"], codes[3]["token"]], buyer_name="王小姐", buyer_phone="13912345678")
    day_one = Batch.objects.get(number=flow.number).events.last().at
    clock.shift(2 * 86400)
    sell([codes[1]["token"]], buyer_name="杭州某服饰有限公司", buyer_kind="business", buyer_phone="13700000009")
    other = new_flow(**MARKET_B)  # another merchant's sales are not counted
    sell([other.released(clock)[0]["token"]], username="merchant-b1")
    url = f"/api/trace/merchants/{merchant_id(flow.number)}/sales/"

    everything = api("regulator").get(url).json()

    assert everything["merchant"]["licence_no"] == "91330102MA2A1B1C1X"
    assert everything["totals"] == {"codes": 3, "sales": 2, "buyers": 2, "voided_sales": 0}
    assert everything["by_batch"] == [{"batch": flow.number, "codes": 3}]
    assert [(p["product_name"], p["codes"]) for p in everything["by_product"]] == [("羊毛大衣", 2), ("真丝围巾", 1)]
    assert everything["sales"]["count"] == 2
    newest = everything["sales"]["results"][0]
    assert (newest["buyer_name"], newest["buyer_phone"], newest["codes"]) == (
        "杭州某服饰有限公司",
        "13700000009",
        [codes[1]["token"]],
    )

    first_day = day_one.astimezone(SHANGHAI).date().isoformat()
    only_day_one = api("regulator").get(f"{url}?from={first_day}&to={first_day}").json()
    assert only_day_one["totals"]["codes"] == 2 and only_day_one["sales"]["results"][0]["buyer_name"] == "王小姐"
    later = (day_one + timedelta(days=1)).astimezone(SHANGHAI).date().isoformat()
    assert api("regulator").get(f"{url}?from={later}").json()["totals"]["codes"] == 1

    assert api("regulator").get(f"{url}?from=yesterday").status_code == 400
    assert api("regulator").get(f"{url}?from={later}&to={first_day}").status_code == 400
    assert api("regulator").get(f"{url}?format=pdf").status_code == 400


def test_the_csv_export_streams_one_sortable_row_per_code_sold(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"], codes[1]["token"]], buyer_name='=HYPERLINK("x")', buyer_phone="13912345678")
    clock.shift(60)
    sell([codes[4]["token"]], buyer_name="李先生", buyer_phone="13700000009")

    response = api("regulator").get(f"/api/trace/merchants/{merchant_id(flow.number)}/sales/?format=csv")

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    # One language per file (the field review found 「销售时间 sold_at」 mixed), named in it too
    assert header[0] == "销售时间" and header[11] == "买方手机" and header[8] == "追溯码"
    assert "filename*=UTF-8''%E9%94%80%E5%94%AE%E8%AE%B0%E5%BD%95-" in response["Content-Disposition"]
    assert [row[8] for row in rows] == [codes[0]["token"], codes[1]["token"], codes[4]["token"]]
    assert rows == sorted(rows, key=lambda row: row[0])  # oldest first; times sort as text
    assert rows[0][10] == '\'=HYPERLINK("x")'  # a formula is kept as text
    assert rows[2][11] == "13700000009" and rows[0][6] == "09506000134352" and rows[2][2] == flow.number


def test_the_export_is_in_english_when_the_page_is(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_name="王女士", buyer_phone="13912345678")
    client = api("regulator")
    client.cookies["django_language"] = "en"
    response = client.get(f"/api/trace/merchants/{merchant_id(flow.number)}/sales/?format=xlsx")
    assert response.status_code == 200
    # named after the merchant, not its internal id
    assert "filename*=UTF-8''Sales-%E6%9D%AD%E5%B7%9E%E6%9C%9B%E6%B1%9F" in response["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert workbook.active.title == "Sales"
    header = next(workbook.active.iter_rows(values_only=True))
    assert header[0] == "Sold at" and header[11] == "Buyer phone" and not any("销" in str(h) for h in header)


def test_the_xlsx_export_is_a_sortable_spreadsheet(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"], codes[3]["token"]], buyer_name="王小姐")

    response = api("regulator").get(f"/api/trace/merchants/{merchant_id(flow.number)}/sales/?format=xlsx")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3 and rows[0][8].startswith("追溯码")
    assert isinstance(rows[1][0], datetime)  # a real date-time cell: sorts as time
    assert [row[8] for row in rows[1:]] == [codes[0]["token"], codes[3]["token"]]
    assert sheet.auto_filter.ref == "A1:P3" and sheet.freeze_panes == "A2"


def test_the_export_is_read_in_chunks_not_all_at_once(flow, clock, sell):
    codes = flow.released(clock)
    for code in codes:
        sell([code["token"]])
    merchant = Merchant.objects.get(user__username="merchant-a1")

    rows = export_rows(merchant=merchant, start=None, end=None, chunk_size=2)

    assert next(rows)[8] == codes[0]["token"]  # a generator: the first row before the rest are read
    assert len(list(rows)) == 4


def test_search_by_token_batch_merchant_licence_and_buyer_phone(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone="13912345678")
    search = lambda q: api("regulator").get("/api/trace/search/", {"q": q}).json()  # noqa: E731

    assert search(codes[0]["token"])["codes"][0]["batch"] == flow.number
    assert search(codes[0]["url"])["codes"][0]["token"] == codes[0]["token"]
    assert search(flow.number[-8:])["batches"][0]["number"] == flow.number
    assert search("望江服饰")["merchants"][0]["stall"] == "A-101"
    assert search("91330102MA2A1B1C1X")["merchants"][0]["name"] == "杭州望江服饰商行"
    found = search("+86 139 1234 5678")["sales"]
    assert found[0]["buyer_phone"] == "13912345678" and found[0]["codes"] == [codes[0]["token"]]
    assert search("13800000000") == {"q": "13800000000", "codes": [], "batches": [], "merchants": [], "sales": []}
    assert api("regulator").get("/api/trace/search/", {"q": "x"}).status_code == 400


def test_every_trace_query_is_recorded_who_what_when(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]])
    regulator = api("regulator")
    merchant = merchant_id(flow.number)

    regulator.get(f"/api/trace/codes/{codes[0]['token']}/")
    regulator.get("/api/trace/codes/AAAAAAAAAAAAAAAAAAAAAAAA/")
    regulator.get(f"/api/trace/batches/{flow.number}/")
    regulator.get(f"/api/trace/batches/{flow.number}/epcis/")
    regulator.get(f"/api/trace/merchants/{merchant}/sales/?from=2020-01-01")
    regulator.get(f"/api/trace/merchants/{merchant}/sales/?format=csv")
    regulator.get("/api/trace/search/", {"q": "望江"})
    api("merchant-a1").get(f"/api/trace/codes/{codes[0]['token']}/")  # refused: not a trace query

    recorded = list(TraceQuery.objects.order_by("id").values_list("user__username", "kind", "subject", "found"))
    assert recorded == [
        ("regulator", "code", codes[0]["token"], True),
        ("regulator", "code", "AAAAAAAAAAAAAAAAAAAAAAAA", False),
        ("regulator", "batch", flow.number, True),
        ("regulator", "epcis", flow.number, True),
        ("regulator", "merchant_sales", str(merchant), True),
        ("regulator", "export", str(merchant), True),
        ("regulator", "search", "望江", True),
    ]
    assert TraceQuery.objects.get(kind="merchant_sales").parameters["from"].startswith("2020-01-01T00:00:00+08:00")
    assert TraceQuery.objects.get(kind="export").parameters["format"] == "csv"
    assert all(row.at is not None for row in TraceQuery.objects.all())
