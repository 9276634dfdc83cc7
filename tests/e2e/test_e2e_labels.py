"""A label sheet too large to answer at once is built by a job; the operator's page shows its
progress and then downloads the PDF (long work shows its progress)."""

import pytest
from django.core.management import call_command

from batches.models import Batch

from .conftest import PASSWORD


@pytest.mark.e2e
def test_a_large_label_sheet_is_prepared_with_progress_then_downloaded(people, settings):
    settings.LABELS_SYNC_MAX = 5  # the demo's released batch has 32 codes: a job builds its sheet
    call_command("seed_demo", password=PASSWORD)
    batch = Batch.objects.get(customs_declaration_no="DEMO-07-RELEASED")
    assert batch.codes.count() > settings.LABELS_SYNC_MAX

    operator = people("operator-1")
    operator.sign_in()
    operator.go(f"/batches/{batch.number}/")
    progress = operator.page.locator(".download-progress")
    assert progress.inner_text() == ""

    # The page asks for the sheet, gets 202 and a job, says it is preparing, polls the job and,
    # once it is done, opens the finished PDF (to print from the browser's PDF view).
    with operator.page.expect_response(
        lambda r: "/api/label-jobs/" in r.url and "/download/" in r.url, timeout=30_000
    ) as answer:
        operator.page.click("[data-testid=labels]")
        progress.filter(has_text="正在生成标签").or_(progress.filter(has_text="标签已生成")).wait_for()

    assert answer.value.status == 200
    assert answer.value.headers["content-type"] == "application/pdf"
    # (Chromium hands the navigation to its PDF viewer; fetch the same URL with the page's cookies.)
    assert operator.context.request.get(answer.value.url).body()[:5] == b"%PDF-"
