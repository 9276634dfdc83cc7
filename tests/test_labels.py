"""Printable label sheets (SPEC §4 `GET /api/batches/{number}/labels.pdf`).

A4 sheets of 3 × 8 labels, one per code. Small sheets are the answer; large ones are built by
a Celery task whose progress the operator polls, then downloaded. Each label's QR is read back
from the rasterised PDF (poppler's pdftoppm) and must be the code's URL.
"""

import io
import subprocess
from datetime import UTC, datetime

import pytest
import time_machine
import zxingcpp
from django.conf import settings
from PIL import Image

from batches.models import Code, TestResult
from tests import conftest

GTIN = "09506000134352"
COATS = {
    "product_name": "羊毛大衣",
    "category": "服装",
    "specification": "女款 M 码",
    "quantity": 20,
    "unit": "件",
    "gtin": GTIN,
}
SCARVES = {
    "product_name": "真丝围巾",
    "category": "服饰配件",
    "specification": "180×70 cm",
    "quantity": 10,
    "unit": "条",
}


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def pdf_pages(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def qr_texts_on_page(pdf: bytes, page: int) -> list[str]:
    png = subprocess.run(
        ["pdftoppm", "-r", "200", "-f", str(page), "-l", str(page), "-png", "-gray", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text for barcode in found]


def expected_url(number, code: Code) -> str:
    if code.line.gtin:
        return f"{settings.PUBLIC_BASE_URL}/01/{GTIN}/10/{number}/21/{code.serial}"
    return f"{settings.PUBLIC_BASE_URL}/c/{code.token}"


@pytest.fixture
def thirty_items(flow, monkeypatch):
    """Given 20 coats with a GTIN and 10 scarves without: 30 labels, two sheets."""
    monkeypatch.setattr(conftest, "LINES", [COATS, SCARVES])
    return flow


def test_a_small_batch_prints_at_once_one_label_per_code(api, thirty_items, clock):
    flow = thirty_items
    flow.coded(clock)
    codes = list(Code.objects.filter(batch__number=flow.number).select_related("line").order_by("item_no"))

    response = api("operator-1").get(f"/api/batches/{flow.number}/labels.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="labels-{flow.number}.pdf"' in response["Content-Disposition"]
    pdf = b"".join(response.streaming_content)
    assert pdf_pages(pdf) == 2  # 24 labels on the first sheet, 6 on the second
    first_sheet = qr_texts_on_page(pdf, 1)
    assert sorted(first_sheet) == sorted(expected_url(flow.number, code) for code in codes[:24])
    second_sheet = qr_texts_on_page(pdf, 2)
    assert sorted(second_sheet) == sorted(expected_url(flow.number, code) for code in codes[24:])
    assert f"{settings.PUBLIC_BASE_URL}/c/{codes[-1].token}" in second_sheet  # a scarf: no GTIN, /c/ URL


def test_a_label_reads_batch_product_warehouse_and_negative_test_date_in_chinese(api, thirty_items):
    """The sample's negative result comes in at 01:30 Beijing time on 2 March (17:30 UTC on
    1 March): the label prints the Beijing date of the first negative result."""
    flow = thirty_items
    with time_machine.travel(datetime(2026, 2, 20, 9, 0, tzinfo=UTC), tick=False) as clock:
        flow.resting()
        flow.sample()
        clock.move_to(datetime(2026, 3, 1, 17, 30, tzinfo=UTC))
        flow.result("negative", report_no="R-1")
        clock.move_to(datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
        flow.result("negative", report_no="R-2")  # a later one does not move the date
        clock.shift(7 * 24 * 3600)
        from batches.tasks import sweep_due_rests

        sweep_due_rests()
        flow.post("operator-1", "move-to-storage")
        flow.post("operator-1", "issue-codes")

    pdf = b"".join(api("operator-1").get(f"/api/batches/{flow.number}/labels.pdf").streaming_content)

    text = pdf_text(pdf)
    for expected in (
        flow.number,
        "羊毛大衣",
        "女款 M 码",
        "真丝围巾",
        "望江集中监管仓",
        "2026-03-02",
        "批次",
        "核酸阴性",
    ):
        assert expected in text, expected
    assert "2026-03-01" not in text
    assert TestResult.objects.filter(sample__batch__number=flow.number).count() == 2


@pytest.mark.parametrize(
    "username, expected",
    [
        ("merchant-a1", 403),  # sees the batch, does not print labels
        ("reviewer-a", 403),
        ("regulator", 403),
        ("operator-2", 404),  # another warehouse
        ("merchant-b1", 404),
        (None, 401),
    ],
)
def test_only_the_batch_warehouse_crew_prints_labels(api, flow, clock, username, expected):
    flow.coded(clock)

    assert api(username).get(f"/api/batches/{flow.number}/labels.pdf").status_code == expected


def test_a_batch_without_codes_has_no_labels_to_print(api, flow):
    flow.resting()

    response = api("operator-1").get(f"/api/batches/{flow.number}/labels.pdf")

    assert response.status_code == 409
    assert response.json()["code"] == "no_codes"
    assert response.json()["status"] == "resting"


def test_a_large_batch_is_built_by_a_task_whose_progress_the_operator_polls(
    api, thirty_items, clock, settings, django_capture_on_commit_callbacks
):
    settings.LABELS_SYNC_MAX = 10
    flow = thirty_items
    flow.coded(clock)
    operator = api("operator-1")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        asked = operator.get(f"/api/batches/{flow.number}/labels.pdf")

    assert asked.status_code == 202
    job = asked.json()
    assert (job["state"], job["done"], job["total"], job["download_url"]) == ("pending", 0, 30, None)
    assert asked["Location"] == job["status_url"]
    assert len(callbacks) == 1  # the task was queued after commit

    status = operator.get(job["status_url"]).json()
    assert (status["state"], status["done"], status["total"]) == ("done", 30, 30)
    assert status["download_url"].endswith(f"/api/label-jobs/{job['id']}/download/")

    download = operator.get(status["download_url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    pdf = b"".join(download.streaming_content)
    assert pdf_pages(pdf) == 2
    codes = Code.objects.filter(batch__number=flow.number).select_related("line").order_by("item_no")
    assert sorted(qr_texts_on_page(pdf, 1)) == sorted(expected_url(flow.number, code) for code in codes[:24])
    assert (settings.MEDIA_ROOT / "labels" / f"{flow.number}-{job['id']}.pdf").exists()


def test_asking_again_while_the_sheet_is_being_built_answers_the_same_job(
    api, flow, clock, settings, django_capture_on_commit_callbacks
):
    settings.LABELS_SYNC_MAX = 2
    flow.coded(clock)
    operator = api("operator-1")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = operator.get(f"/api/batches/{flow.number}/labels.pdf").json()
        second = operator.get(f"/api/batches/{flow.number}/labels.pdf").json()

    assert first["id"] == second["id"]
    assert len(callbacks) == 1
    not_ready = operator.get(f"/api/label-jobs/{first['id']}/download/")
    assert not_ready.status_code == 409
    assert not_ready.json()["code"] == "label_job_not_ready"


def test_a_worker_delivering_the_task_twice_builds_the_sheet_once(
    api, flow, clock, settings, django_capture_on_commit_callbacks
):
    from warehouse.models import LabelJob
    from warehouse.tasks import build_label_sheet

    settings.LABELS_SYNC_MAX = 2
    flow.coded(clock)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = api("operator-1").get(f"/api/batches/{flow.number}/labels.pdf").json()["id"]

    assert build_label_sheet(job_id) is False
    job = LabelJob.objects.get(pk=job_id)
    assert (job.state, job.done) == ("done", 5)


@pytest.mark.parametrize(
    "username, expected",
    [
        ("operator-1", 200),
        ("merchant-a1", 403),
        ("regulator", 403),
        ("operator-2", 404),
        ("merchant-b1", 404),
        (None, 401),
    ],
)
def test_label_jobs_are_scoped_like_their_batch(
    api, flow, clock, settings, django_capture_on_commit_callbacks, username, expected
):
    settings.LABELS_SYNC_MAX = 2
    flow.coded(clock)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = api("operator-1").get(f"/api/batches/{flow.number}/labels.pdf").json()["id"]

    assert api(username).get(f"/api/label-jobs/{job_id}/").status_code == expected
    assert api(username).get(f"/api/label-jobs/{job_id}/download/").status_code == expected
