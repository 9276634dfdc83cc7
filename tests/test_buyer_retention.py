"""Buyers' personal data (PIPL): after BUYER_DATA_RETENTION_DAYS a sale's buyer name and phone
are anonymised by `manage.py anonymise_buyers` and the daily beat task; the sale, its codes,
dates, merchant and buyer kind stay, so counts, traces, recalls and exports keep working."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command

from batches.models import Batch, CodeStatus, Event
from config.celery import app as celery_app
from markets.models import BuyerAnonymisationRun, Sale, SaleItem
from markets.retention import buyers_anonymise
from markets.tasks import anonymise_buyers

DAY = 24 * 3600
RETENTION = 1095


@pytest.fixture(autouse=True)
def retention(settings):
    settings.BUYER_DATA_RETENTION_DAYS = RETENTION


def command(*args) -> str:
    out = io.StringIO()
    call_command("anonymise_buyers", *args, stdout=out)
    return out.getvalue()


def sales_as_stored() -> list[tuple]:
    return list(
        Sale.objects.order_by("pk").values_list(
            "pk",
            "merchant_id",
            "buyer_name",
            "buyer_phone",
            "buyer_kind",
            "buyer_credit_code",
            "sold_at",
            "voided_at",
            "buyer_anonymised_at",
        )
    )


@pytest.fixture
def old_and_new_sales(flow, clock, sell):
    """Given two codes sold to 王小姐 three years and a day ago, and one sold to a company 30 days ago."""
    codes = flow.released(clock)
    old = sell([codes[0]["token"], codes[1]["token"]], buyer_name="王小姐", buyer_phone="13912345678")
    clock.shift((RETENTION - 29) * DAY)
    new = sell(
        [codes[2]["token"]],
        buyer_name="杭州某服饰有限公司",
        buyer_kind="business",
        buyer_phone="13700000009",
        buyer_credit_code="91330100799655058B",
    )
    clock.shift(30 * DAY)
    return codes, old, new


def test_old_buyers_are_anonymised_new_ones_kept_and_the_run_is_recorded(old_and_new_sales):
    codes, old, new = old_and_new_sales
    before = {row[0]: row for row in sales_as_stored()}

    out = command()

    assert "已匿名化" in out and " 1 条销售记录" in out
    stored_old = Sale.objects.get(pk=old["id"])
    assert (stored_old.buyer_name, stored_old.buyer_phone, stored_old.buyer_kind) == ("已匿名", "", "consumer")
    assert stored_old.buyer_anonymised_at is not None
    # What the sale was stays: merchant, time, codes, their status.
    assert (stored_old.merchant_id, stored_old.sold_at) == (*before[old["id"]][1:2], before[old["id"]][6])
    assert sorted(SaleItem.objects.filter(sale=stored_old).values_list("code__token", flat=True)) == sorted(
        [codes[0]["token"], codes[1]["token"]]
    )
    assert set(SaleItem.objects.filter(sale=stored_old).values_list("code__status", flat=True)) == {CodeStatus.SOLD}
    # The newer sale is untouched.
    assert before[new["id"]] == next(row for row in sales_as_stored() if row[0] == new["id"])

    (run,) = BuyerAnonymisationRun.objects.all()
    assert (run.sales_anonymised, run.retention_days) == (1, RETENTION)
    assert run.cutoff == run.started_at - timedelta(days=RETENTION)


def test_a_rerun_changes_nothing_but_is_recorded(old_and_new_sales, clock):
    command()
    after_first = sales_as_stored()
    clock.shift(DAY - 1)  # the next day's run: the newer sale is still within the retention

    out = command()

    assert sales_as_stored() == after_first
    assert " 0 条销售记录" in out
    assert list(BuyerAnonymisationRun.objects.order_by("started_at").values_list("sales_anonymised", flat=True)) == [
        1,
        0,
    ]


def test_dry_run_counts_and_changes_nothing(old_and_new_sales):
    before = sales_as_stored()

    out = command("--dry-run")

    assert "有 1 条的买方信息待匿名化（未作改动）" in out
    assert sales_as_stored() == before
    assert not BuyerAnonymisationRun.objects.exists()


def test_trace_counts_recall_and_exports_still_work_after_anonymisation(old_and_new_sales, api, flow):
    codes, old, new = old_and_new_sales
    events_before = list(Event.objects.order_by("id").values_list("id", "action", "details"))
    command()
    regulator = api("regulator")

    trace = regulator.get(f"/api/trace/codes/{codes[0]['token']}/").json()
    assert trace["sale"]["id"] == old["id"]
    assert (trace["sale"]["buyer_name"], trace["sale"]["buyer_phone"], trace["sale"]["buyer_kind"]) == (
        "已匿名",
        "",
        "consumer",
    )
    assert [e["action"] for e in trace["events"]][-1] == "sale"

    batch = regulator.get(f"/api/trace/batches/{flow.number}/").json()
    assert {key: batch["counts"][key] for key in ("issued", "sold", "sales", "buyers")} == {
        "issued": 5,
        "sold": 3,
        "sales": 2,
        "buyers": 1,
    }  # the anonymised buyer is no longer a known buyer
    assert sorted((b["buyer_name"], b["codes"]) for b in batch["buyers"]) == [("已匿名", 2), ("杭州某服饰有限公司", 1)]

    merchant_id = Batch.objects.get(number=flow.number).merchant_id
    summary = regulator.get(f"/api/trace/merchants/{merchant_id}/sales/").json()
    assert summary["totals"] == {"codes": 3, "sales": 2, "buyers": 1, "voided_sales": 0}

    export = regulator.get(f"/api/trace/merchants/{merchant_id}/sales/?format=csv")
    _header, *rows = csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig")))
    assert [(row[8], row[10], row[11]) for row in rows] == [
        (codes[0]["token"], "已匿名", ""),
        (codes[1]["token"], "已匿名", ""),
        (codes[2]["token"], "杭州某服饰有限公司", "13700000009"),
    ]

    # The old phone finds nothing any more; the new one still does.
    assert regulator.post("/api/trace/search/", {"q": "13912345678"}, format="json").json()["sales"] == []
    assert [
        s["id"] for s in regulator.post("/api/trace/search/", {"q": "13700000009"}, format="json").json()["sales"]
    ] == [new["id"]]

    # A recall still lists every sale; the anonymised one cannot be contacted any more.
    recall = regulator.post(f"/api/batches/{flow.number}/recall/", {"reason": "境外通报阳性"}, format="json").json()
    assert sorted((b["buyer_name"], b["buyer_phone"], len(b["codes"])) for b in recall["buyers"]) == [
        ("已匿名", "", 2),
        ("杭州某服饰有限公司", "13700000009", 1),
    ]

    # The event log is never rewritten (R6) and holds no buyer data to begin with.
    assert (
        list(Event.objects.filter(id__lte=events_before[-1][0]).order_by("id").values_list("id", "action", "details"))
        == events_before
    )


def test_a_merchant_sees_an_anonymised_sale_without_a_phone(old_and_new_sales, api):
    _codes, old, _new = old_and_new_sales
    command()
    response = api("merchant-a1").get("/api/sales/")
    sale = next(s for s in response.json()["results"] if s["id"] == old["id"])
    assert (sale["buyer_name"], sale["buyer_phone"]) == ("已匿名", "")


def test_credit_codes_of_companies_stay_those_of_individual_businesses_go(flow, clock, sell):
    codes = flow.released(clock)
    company = sell([codes[0]["token"]], buyer_kind="business", buyer_credit_code="91330100799655058B")
    individual = sell([codes[1]["token"]], buyer_kind="business", buyer_credit_code="92330102MA2K6Q9R2J")
    clock.shift((RETENTION + 1) * DAY)

    buyers_anonymise()

    assert Sale.objects.get(pk=company["id"]).buyer_credit_code == "91330100799655058B"
    assert Sale.objects.get(pk=individual["id"]).buyer_credit_code == ""
    assert set(Sale.objects.values_list("buyer_name", "buyer_phone")) == {("已匿名", "")}


def test_work_is_done_in_bounded_chunks(flow, clock, sell):
    codes = flow.released(clock)
    for code in codes:
        sell([code["token"]])
    clock.shift((RETENTION + 1) * DAY)

    result = buyers_anonymise(chunk_size=2)

    assert (result.due, result.anonymised) == (5, 5)
    assert not Sale.objects.filter(buyer_anonymised_at__isnull=True).exists()


def test_a_voided_sale_is_anonymised_too_and_its_codes_stay_sellable(flow, clock, sell, api):
    codes = flow.released(clock)
    voided = sell([codes[0]["token"]])
    api("merchant-a1").post(f"/api/sales/{voided['id']}/void/", {"reason": "退货"}, format="json")
    clock.shift((RETENTION + 1) * DAY)

    buyers_anonymise()

    sale = Sale.objects.get(pk=voided["id"])
    assert (sale.buyer_name, sale.void_reason) == ("已匿名", "退货")
    sell([codes[0]["token"]], buyer_name="新买家")


def test_the_beat_runs_the_task_daily(old_and_new_sales):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "markets.tasks.anonymise_buyers")
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"].remaining_estimate(entry["schedule"].now()) <= timedelta(days=1)

    assert anonymise_buyers.delay().get() == 1
    assert Sale.objects.filter(buyer_name="已匿名").count() == 1


def test_the_runs_are_shown_read_only_in_the_admin(old_and_new_sales, client, django_user_model):
    command()
    admin = django_user_model.objects.create_superuser("root", password="root-pass-2026")
    client.force_login(admin)

    page = client.get("/admin/markets/buyeranonymisationrun/")
    assert page.status_code == 200 and "买方信息匿名化记录" in page.content.decode()
    run = BuyerAnonymisationRun.objects.get()
    assert client.get(f"/admin/markets/buyeranonymisationrun/{run.pk}/delete/").status_code == 403
    assert client.get("/admin/markets/buyeranonymisationrun/add/").status_code == 403
    sale = client.get(f"/admin/markets/sale/{Sale.objects.get(buyer_name='已匿名').pk}/change/").content.decode()
    assert "13912345678" not in sale and "139****5678" not in sale
