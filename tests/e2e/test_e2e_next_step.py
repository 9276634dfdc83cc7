"""What comes next on the batch card, in a real browser on a phone (docs/web.md): a rest that
ended before a sample was taken is walked out of from the card (issue 19's dead end), and a
quarantined batch tells the crew what to do with the goods. Screenshots in both languages."""

import time

import pytest
from django.core.management import call_command

from batches.models import Batch, Status
from tests.conftest import Api, Flow

from .conftest import DESKTOP, PASSWORD, PHONE, REST_SECONDS


@pytest.mark.e2e
def test_a_rest_over_without_a_sample_is_walked_out_of_from_the_card(people):
    operator = people("operator-1", label="next-step").with_axe()
    operator.sign_in()
    page = operator.page
    flow = Flow(Api())
    flow.resting()
    time.sleep(REST_SECONDS + 0.5)  # the rest ends, nobody sampled (and no timer has run)

    operator.go(f"/batches/{flow.number}/")

    step = page.inner_text("[data-testid=next-step]")
    assert "下一步（您）" in step and "没有取样" in step
    assert page.locator("[data-testid=do-move_to_storage]").count() == 0
    assert operator.axe() == [] and operator.wide() <= 0
    operator.shot("card-rest-over-no-sample")
    page.set_viewport_size(DESKTOP)  # the card without the phone's tab bar over it, for docs/web.md
    operator.shot("card-rest-over-no-sample-desktop")
    page.set_viewport_size(PHONE)
    page.fill("#id_sample-lab", "杭州市疾控中心")
    operator.submit("[data-testid=do-sample]")
    assert "的采样" in operator.flash()
    page.check("input[name=test_result-result][value=negative]")
    page.fill("#id_test_result-report_no", "R-LATE-1")
    operator.submit("[data-testid=do-test_result]")
    assert "移入仓储区" in page.inner_text("[data-testid=next-step]")
    operator.submit("[data-testid=do-move_to_storage]")
    assert "已移入仓储区" in operator.flash()
    assert Batch.objects.get(number=flow.number).status == Status.STORED


@pytest.mark.e2e
def test_the_crew_is_told_to_keep_quarantined_goods_isolated(people):
    operator = people("operator-1", label="next-step-quarantine").with_axe()
    operator.sign_in()
    flow = Flow(Api())
    flow.to("quarantined")

    operator.go(f"/batches/{flow.number}/")

    step = operator.page.inner_text("[data-testid=next-step]")
    assert "下一步（监管部门）" in step and "原地隔离" in step and "不要移动" in step
    assert operator.page.locator("#actions form").count() == 0
    assert operator.axe() == [] and operator.wide() <= 0
    operator.shot("card-quarantined")
    operator.page.set_viewport_size(DESKTOP)
    operator.shot("card-quarantined-desktop")


@pytest.mark.e2e
def test_a_merchants_released_batch_leads_to_the_sale(people):
    call_command("seed_demo", password=PASSWORD)
    released = Batch.objects.get(customs_declaration_no="DEMO-07-RELEASED")
    merchant = people("merchant-a1", label="next-step-merchant").with_axe()
    merchant.sign_in()

    merchant.go(f"/batches/{released.number}/")

    assert "下一步（您）" in merchant.page.inner_text("[data-testid=next-step]")
    assert merchant.axe() == [] and merchant.wide() <= 0
    merchant.submit("[data-testid=next-step-link]")
    assert merchant.page.url.endswith("/sales/new/")
