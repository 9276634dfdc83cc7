"""One batch through every role's main path, in a real browser:

a merchant declares and submits, the reviewer approves, the operator scans the batch through
every step (with a few seconds of rest), codes are issued and released, the merchant sells by
scanning, the regulator finds the sale in trace and on the dashboard. Every page is saved as a
screenshot in Chinese and in English under artifacts/screenshots/.
"""

import re
import time

import pytest

from batches.models import Batch, Code, Status
from batches.tasks import sweep_due_rests
from markets.models import Sale

from .conftest import DESKTOP, PHONE, REST_SECONDS


@pytest.mark.e2e
def test_a_batch_from_declaration_to_sale_and_trace(people):
    # --- the merchant declares two lines (adds a third and removes it again) and submits ---
    merchant = people("merchant-a1")
    merchant.sign_in()
    merchant.shot("home")
    page = merchant.page
    merchant.submit("nav.menu >> text=申报批次")
    page.fill("#id_customs_declaration_no", "310120261129000042")
    page.fill("#id_origin_country", "意大利")
    page.fill("#id_port_of_entry", "上海浦东")
    page.fill("#id_lines-0-product_name", "羊毛大衣")
    page.fill("#id_lines-0-category", "服装")
    page.fill("#id_lines-0-specification", "女款 M 码")
    page.fill("#id_lines-0-quantity", "3")
    page.fill("#id_lines-0-gtin", "09506000134352")
    page.click("[data-add-line]")
    page.fill("#id_lines-1-product_name", "真丝围巾")
    page.fill("#id_lines-1-category", "服饰配件")
    page.fill("#id_lines-1-specification", "180×70 cm")
    page.fill("#id_lines-1-quantity", "2")
    page.click("[data-add-line]")
    assert page.locator("[data-line]").count() == 3
    page.locator("[data-line]").nth(2).locator("[data-remove-line]").click()
    assert page.locator("[data-line]").count() == 2
    assert page.input_value("input[name=lines-TOTAL_FORMS]") == "2"
    # A bad GTIN first: the error is shown in Chinese and everything typed is kept
    page.fill("#id_lines-1-gtin", "12345")
    merchant.submit("[data-testid=save-submit]")
    assert "GTIN 须为" in merchant.text()
    assert page.input_value("#id_lines-1-product_name") == "真丝围巾"
    merchant.shot("declare-error")
    page.fill("#id_lines-1-gtin", "")
    merchant.submit("[data-testid=save-submit]")
    batch = Batch.objects.get()
    assert batch.status == Status.SUBMITTED and batch.lines.count() == 2
    assert "已保存并提交审核" in merchant.flash()
    merchant.shot("batch-submitted")
    number = batch.number

    # --- the reviewer approves it from the queue, choosing the warehouse ---------------------
    reviewer = people("reviewer-a", DESKTOP)
    reviewer.sign_in()
    assert reviewer.page.inner_text("[data-testid=badge-queue]") == "1"
    reviewer.shot("home")
    reviewer.submit("nav.menu >> text=审核队列")
    reviewer.shot("queue")
    reviewer.submit(f"text={number}")
    reviewer.shot("declaration")
    reviewer.page.select_option("#id_approve-warehouse", "WH-1")
    reviewer.submit("[data-testid=do-approve]")
    assert "已批准" in reviewer.flash()
    assert Batch.objects.get(pk=batch.pk).status == Status.APPROVED

    # --- the operator scans the pallet label and takes every step from the batch card ---------
    operator = people("operator-1")
    operator.sign_in()
    page = operator.page
    assert page.evaluate("document.activeElement.id") == "id_q"  # the scan box has the focus
    operator.shot("scan")
    page.keyboard.type(number)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("#batch-card")
    operator.shot("card-approved")
    # The arrival check asks for what was counted: nothing filled in or ticked in advance
    assert page.input_value("#id_arrival-0-received_quantity") == ""
    assert page.locator("#batch-card input[type=radio]:checked").count() == 0
    for index, quantity in enumerate((3, 2)):
        page.fill(f"#id_arrival-{index}-received_quantity", str(quantity))
        page.check(f"input[name=arrival-{index}-type_matches][value=on]")
        page.check(f"input[name=arrival-{index}-spec_matches][value=on]")
    operator.submit("[data-testid=do-arrive]")
    assert "与申报相符" in operator.flash()
    assert page.evaluate("document.activeElement.id") == "id_q"  # refocused after the action
    # Not disinfected yet: the card does not offer the move its guard would refuse, and says what comes first
    assert page.locator("[data-testid=do-move_to_resting]").count() == 0
    assert "下一步（您）" in page.inner_text("[data-testid=next-step]")
    assert "消毒" in page.inner_text("[data-testid=next-step]")
    operator.submit("[data-testid=do-disinfect]")
    assert "消毒" in operator.flash()
    operator.submit("[data-testid=do-move_to_resting]")
    assert "已进入静置区" in operator.flash()
    rest_started = time.monotonic()
    page.fill("#id_sample-lab", "杭州市疾控中心")
    operator.submit("[data-testid=do-sample]")
    page.check("input[name=test_result-result][value=negative]")
    page.fill("#id_test_result-report_no", "R-2026-001")
    operator.submit("[data-testid=do-test_result]")
    assert Batch.objects.get(pk=batch.pk).status == Status.RESTING
    # After the negative result the card says what comes next and offers no other sample
    assert "下一步" in page.inner_text("[data-testid=next-step]")
    assert page.locator("[data-testid=do-sample]").count() == 0
    operator.shot("card-resting")
    operator.submit("nav.menu >> text=分区看板")
    assert number in page.inner_text(".board-resting")
    operator.shot("zone-board")
    time.sleep(max(0.0, REST_SECONDS + 0.2 - (time.monotonic() - rest_started)))
    assert sweep_due_rests() == 1  # the beat's sweep, called directly (R3)
    operator.go("/scan/")
    page.fill("#id_q", number)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    operator.submit("[data-testid=do-move_to_storage]")
    assert "已移入仓储区" in operator.flash()
    operator.submit("[data-testid=do-issue_codes]")
    assert "已赋码" in operator.flash()
    assert page.get_attribute("[data-testid=labels]", "href") == f"/api/batches/{number}/labels.pdf"
    operator.shot("card-coded")
    codes = list(Code.objects.filter(batch=batch).order_by("item_no"))
    assert len(codes) == 5
    # Release two codes by scanning: the second scan of the same code is refused at once
    operator.submit("[data-testid=release-scan]")
    operator.shot("release-scan")
    box = page.locator("[data-scan-input]")
    for value in (codes[0].token, f"http://localhost:8000/c/{codes[1].token}", codes[0].token):
        box.fill(value)
        box.press("Enter")
    assert page.inner_text("[data-scan-count]") == "2"
    assert "已扫描过" in page.inner_text("[data-scan-feedback]")
    operator.shot("release-scan-filled", both=False)
    operator.submit("[data-testid=release-submit]")
    assert "2 个追溯码已出仓" in operator.flash()
    operator.submit("[data-testid=do-release-all]")  # the confirm dialog is accepted
    assert Batch.objects.get(pk=batch.pk).status == Status.RELEASED

    # --- the merchant sells two items by scanning them --------------------------------------
    merchant.submit("nav.menu >> text=扫码销售")
    page = merchant.page
    merchant.shot("sell")
    assert page.evaluate("document.activeElement.dataset.scanInput") == ""
    box = page.locator("[data-scan-input]")
    for value in (codes[2].token, codes[3].token, codes[2].token):
        box.type(value)
        box.press("Enter")
    assert page.inner_text("[data-scan-count]") == "2"
    page.fill("#id_buyer_name", "王女士")
    page.fill("#id_buyer_phone", "13912345678")
    merchant.shot("sell-filled", both=False)
    merchant.submit("[data-testid=sale-submit]")
    assert "已登记" in merchant.flash()
    sale = Sale.objects.get()
    assert sorted(item.code_id for item in sale.items.all()) == [codes[2].pk, codes[3].pk]
    merchant.shot("my-sales")
    merchant.go(f"/batches/{number}/")
    assert "已售出" in merchant.text()
    merchant.shot("batch-timeline")
    # The language switch in the page itself
    merchant.submit("[data-testid=lang-en]")
    assert "Timeline" in merchant.text()
    merchant.submit("[data-testid=lang-zh]")
    assert "时间线" in merchant.text()

    # --- the regulator sees the sale on the dashboard and finds it in trace ------------------
    regulator = people("regulator", DESKTOP)
    regulator.sign_in()
    page = regulator.page
    assert page.locator("[data-testid=sales-chart] rect[data-market=MKT-A][data-value='2']").count() == 1
    regulator.shot("dashboard")
    page.fill("#id_trace_q", codes[2].token)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=chain]")
    chain = regulator.text()
    for step in (
        "已申报",
        "已批准",
        "入仓核验",
        "已消毒",
        "进入静置区",
        "静置期满",
        "进入仓储区",
        "已赋码",
        "追溯码出仓",
        "已售出",
    ):
        assert step in chain, step
    assert "王女士" in chain and "13912345678" in chain
    regulator.shot("trace-code")
    regulator.submit("[data-testid=sale] ~ section a, a[href^='/trace/merchants/']")
    assert page.inner_text("[data-testid=codes-sold]") == "2"
    assert re.search(
        r"/api/trace/merchants/\d+/sales/\?format=xlsx", page.get_attribute("[data-testid=export-xlsx]", "href")
    )
    regulator.shot("merchant-sales")
    # A search by phone is a POST: the number never goes into a URL
    regulator.go("/trace/")
    page.fill("#id_trace_q", "13912345678")
    regulator.submit("form[role=search] button[type=submit]")
    assert "13912345678" not in page.url
    assert codes[3].token in regulator.text()
    regulator.shot("trace-phone")
    regulator.go(f"/trace/batches/{number}/")
    regulator.shot("trace-batch")

    # --- the same pages on the other device size ------------------------------------------
    phone_regulator = people("regulator", PHONE, label="regulator-phone")
    phone_regulator.sign_in()
    phone_regulator.shot("dashboard")
    phone_regulator.go(f"/trace/codes/{codes[2].token}/")
    phone_regulator.shot("trace-code")
    desk_operator = people("operator-1", DESKTOP, label="operator-desktop")
    desk_operator.sign_in()
    desk_operator.go("/warehouse/board/")
    desk_operator.shot("zone-board")
