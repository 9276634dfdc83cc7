"""Selling by scanning (merchant), my sales with void, and the regulator's dashboard, trace,
merchant sales with exports, recall with the buyers and quarantine decisions."""

import pytest
from django.test import Client
from django.utils import timezone

from batches.models import Batch, Code, Notification, Status
from markets.models import Sale, TraceQuery
from tests.test_web_support import messages_of, text_of

BUYER = {"buyer_name": "王女士", "buyer_phone": "13912345678", "buyer_kind": "consumer", "buyer_credit_code": ""}
PHONE = "13912345678"


def released(flow, clock, count=None):
    flow.coded(clock)
    flow.post("operator-1", "release", {"all": True})
    return list(Code.objects.filter(batch__number=flow.number).order_by("item_no"))


def test_sell_by_scanning_records_one_sale_of_all_scanned_codes(web, flow, clock):
    codes = released(flow, clock)
    page = web("merchant-a1").get("/sales/new/")
    html = page.content.decode()
    assert page.status_code == 200 and "data-scan-input" in html and "autofocus" in html
    scans = [codes[0].token, f"http://localhost:8000/c/{codes[1].token}"]
    answer = web("merchant-a1").post("/sales/new/", {**BUYER, "codes": "\n".join(scans)}, follow=True)
    sale = Sale.objects.get()
    assert sorted(i.code_id for i in sale.items.all()) == [codes[0].pk, codes[1].pk]
    assert "已登记" in messages_of(answer)[0]
    mine = text_of(web("merchant-a1").get("/sales/"))
    assert "王女士" in mine and "羊毛大衣" in mine


def test_a_sale_with_a_bad_code_sells_nothing_and_names_the_problem_per_code(web, flow, clock):
    codes = released(flow, clock)
    scans = [codes[0].token, codes[0].token, "AAAAAAAAAAAAAAAAAAAAAAAA"]
    answer = web("merchant-a1").post("/sales/new/", {**BUYER, "codes": "\n".join(scans)})
    assert answer.status_code == 400 and Sale.objects.count() == 0
    assert "未售出任何商品" in messages_of(answer)[0]
    assert "AAAAAAAAAAAAAAAAAAAAAAAA" in answer.context["problems"]
    assert 'value="王女士"' in answer.content.decode()  # the buyer is kept
    bad_phone = web("merchant-a1").post("/sales/new/", {**BUYER, "buyer_phone": "12345", "codes": codes[0].token})
    assert bad_phone.status_code == 400 and "手机号" in text_of(bad_phone) and Sale.objects.count() == 0
    # Another merchant cannot sell merchant-a1's codes
    other = web("merchant-a2").post("/sales/new/", {**BUYER, "codes": codes[2].token})
    assert other.status_code == 400 and Sale.objects.count() == 0


def test_void_a_sale_returns_its_codes(web, flow, clock):
    codes = released(flow, clock)
    web("merchant-a1").post("/sales/new/", {**BUYER, "codes": codes[0].token})
    sale = Sale.objects.get()
    assert web("merchant-a2").post(f"/sales/{sale.pk}/void/", {"reason": "x"}).status_code == 404
    answer = web("merchant-a1").post(f"/sales/{sale.pk}/void/", {"reason": "顾客退货"}, follow=True)
    assert "已作废" in messages_of(answer)[-1]
    assert Code.objects.get(pk=codes[0].pk).status == "released"
    again = web("merchant-a1").post(f"/sales/{sale.pk}/void/", {"reason": "顾客退货"}, follow=True)
    assert "该销售记录已作废。" in messages_of(again)


def test_dashboard_shows_occupancy_alerts_quarantine_and_sales_chart(web, flow, clock, api):
    from tests.conftest import Flow

    codes = released(flow, clock)
    web("merchant-a1").post("/sales/new/", {**BUYER, "codes": "\n".join(c.token for c in codes[:3])})
    sick = Flow(api)
    sick.resting()
    sick.sample()
    sick.result("positive")
    page = web("regulator").get("/")
    text = text_of(page)
    assert "WH-1" in text and "静置区" in text and "仓储区" in text
    assert sick.number in text and "阳性检测结果" in text  # the quarantined batch and the alert
    chart = page.context["chart"]
    assert chart["total"] == 3 and any(bar["value"] == 3 and bar["market"] == "MKT-A" for bar in chart["bars"])
    assert '<svg viewBox="0 0 640 240"' in page.content.decode() and 'data-value="3"' in page.content.decode()
    assert next(item for item in page.context["menu"] if item["key"] == "alerts")["badge"] == 1
    web("regulator").post("/alerts/read/")
    assert not Notification.objects.filter(read_at__isnull=True, recipient__username="regulator").exists()


def test_rests_ending_today_and_overdue_ones_are_listed(web, flow, clock):
    flow.resting()
    clock.shift(7 * 86400 - 60)  # the rest ends within the minute: today (or just past midnight)
    page = web("regulator").get("/dashboard/")
    due = [row["batch"].number for row in page.context["due_today"]]
    overdue = [row["batch"].number for row in page.context["overdue"]]
    assert flow.number in due + overdue
    clock.shift(3 * 86400)
    page = web("regulator").get("/dashboard/")
    assert [row["batch"].number for row in page.context["overdue"]] == [flow.number]


def test_trace_by_token_shows_the_whole_chain_and_the_buyer(web, flow, clock):
    codes = released(flow, clock)
    web("merchant-a1").post("/sales/new/", {**BUYER, "codes": codes[0].token})
    answer = web("regulator").post("/trace/", {"q": f"http://localhost:8000/c/{codes[0].token}"}, follow=True)
    text = text_of(answer)
    assert answer.redirect_chain[-1][0] == f"/trace/codes/{codes[0].token}/"
    for step in (
        "已申报",
        "已批准",
        "入仓核验",
        "已消毒",
        "进入静置区",
        "已登记检测结果",
        "静置期满",
        "进入仓储区",
        "已赋码",
        "追溯码出仓",
        "已售出",
    ):
        assert step in text, step
    assert "王女士" in text and "13912345678" in text
    assert TraceQuery.objects.filter(kind="search").exists() and TraceQuery.objects.filter(kind="code").exists()
    # By buyer phone: the sales to that buyer
    by_phone = web("regulator").post("/trace/", {"q": "13912345678"})
    assert codes[0].token in by_phone.content.decode()
    # By batch number: the batch trace with counts and buyers
    batch = web("regulator").post("/trace/", {"q": flow.number}, follow=True)
    assert batch.redirect_chain[-1][0] == f"/trace/batches/{flow.number}/" and "王女士" in text_of(batch)
    # By merchant name: the merchant, whose sales page links the exports of the trace API
    merchants = web("regulator").post("/trace/", {"q": "望江服饰"})
    merchant_id = Batch.objects.get(number=flow.number).merchant_id
    assert f"/trace/merchants/{merchant_id}/" in merchants.content.decode()
    sales = web("regulator").get(f"/trace/merchants/{merchant_id}/")
    html = sales.content.decode()
    assert f"/api/trace/merchants/{merchant_id}/sales/?format=csv" in html
    assert f"/api/trace/merchants/{merchant_id}/sales/?format=xlsx" in html
    assert sales.context["summary"]["totals"]["codes"] == 1
    csv = web("regulator").get(f"/api/trace/merchants/{merchant_id}/sales/?format=csv")
    assert csv.status_code == 200 and codes[0].token in b"".join(csv.streaming_content).decode()
    # Outside the district's trace: other roles are refused
    assert web("merchant-a1").get(f"/trace/codes/{codes[0].token}/").status_code == 403


def test_recall_lists_the_buyers_to_contact(web, flow, clock):
    codes = released(flow, clock)
    web("merchant-a1").post("/sales/new/", {**BUYER, "codes": "\n".join(c.token for c in codes[:2])})
    empty = web("regulator").post(f"/batches/{flow.number}/do/recall/", {"recall-reason": ""})
    assert empty.status_code == 400 and Batch.objects.get(number=flow.number).status == Status.RELEASED
    answer = web("regulator").post(f"/batches/{flow.number}/do/recall/", {"recall-reason": "境外通报"})
    assert answer.status_code == 200 and Batch.objects.get(number=flow.number).status == Status.RECALLED
    text = text_of(answer)
    assert "需联系的买方" in text and "王女士" in text and "13912345678" in text
    # Unsold codes can no longer be sold
    refused = web("merchant-a1").post("/sales/new/", {**BUYER, "codes": codes[3].token})
    assert refused.status_code == 400 and "召回" in text_of(refused)


def test_quarantine_decisions_redisinfect_or_destroy(web, flow, api):
    from tests.conftest import Flow

    flow.resting()
    flow.sample()
    flow.result("positive")
    page = web("regulator").get(f"/batches/{flow.number}/")
    assert "隔离处置" in text_of(page) and "重新消毒" in text_of(page)
    web("regulator").post(f"/batches/{flow.number}/do/redisinfect/", {"redisinfect-reason": "复检前重新消毒"})
    batch = Batch.objects.get(number=flow.number)
    assert batch.status == Status.PRE_STORAGE and batch.cycle == 2 and batch.rest_until is None
    other = Flow(api)
    other.resting()
    other.sample()
    other.result("positive")
    assert web("operator-1").post(f"/batches/{other.number}/do/destroy/", {"destroy-reason": "x"}).status_code == 403
    answer = web("regulator").post(
        f"/batches/{other.number}/do/destroy/", {"destroy-reason": "阳性，销毁"}, follow=True
    )
    assert Batch.objects.get(number=other.number).status == Status.DESTROYED
    assert "已登记为销毁" in messages_of(answer)[-1]


# --- impossible dates in the trace period -----------------------------------------------------


@pytest.mark.parametrize(
    "query", [{"from": "2024-02-30"}, {"to": "9999-12-31"}, {"from": "0001-01-01"}, {"to": "2024-13-01"}]
)
def test_an_impossible_period_is_a_form_error_not_a_500(web, flow, query):
    flow.declare()
    merchant_id = Batch.objects.get(number=flow.number).merchant_id
    page = web("regulator").get(f"/trace/merchants/{merchant_id}/", query)
    assert page.status_code == 400 and page.context["period_error"]
    assert list(page.context["sales"]) == [] and page.context["period_error"] in text_of(page)


def test_a_possible_period_still_filters(web, flow, clock, sell):
    codes = flow.released(clock)
    sell([codes[0]["token"]])
    merchant_id = Batch.objects.get(number=flow.number).merchant_id
    today = timezone.localdate().isoformat()
    page = web("regulator").get(f"/trace/merchants/{merchant_id}/", {"from": today, "to": today})
    assert page.status_code == 200 and len(page.context["sales"]) == 1


# --- the trace search keeps phones out of URLs ------------------------------------------------


def test_the_trace_search_is_a_post_with_csrf_and_a_get_searches_nothing(web, flow, clock, sell):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone=PHONE)
    for path in ("/trace/", "/dashboard/"):
        html = web("regulator").get(path).content.decode()
        form = html[html.index('action="/trace/"') - 60 :]
        assert 'method="post" action="/trace/"' in html and "csrfmiddlewaretoken" in form[:600], path
    assert TraceQuery.objects.count() == 0
    found = web("regulator").post("/trace/", {"q": PHONE})
    assert found.status_code == 200 and codes[0]["token"] in found.content.decode()
    assert TraceQuery.objects.filter(kind="search").count() == 1
    ignored = web("regulator").get("/trace/", {"q": PHONE})
    assert ignored.status_code == 200 and codes[0]["token"] not in ignored.content.decode()
    assert TraceQuery.objects.filter(kind="search").count() == 1
    # A code still opens its chain (a redirect to a URL with the token, not the phone)
    chain = web("regulator").post("/trace/", {"q": codes[0]["token"]})
    assert chain.status_code == 302 and chain["Location"] == f"/trace/codes/{codes[0]['token']}/"


def test_the_trace_search_needs_the_csrf_token(world):
    from django.contrib.auth import get_user_model

    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="regulator"))
    assert client.post("/trace/", {"q": PHONE}).status_code == 403
    assert TraceQuery.objects.count() == 0
