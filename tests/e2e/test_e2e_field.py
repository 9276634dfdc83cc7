"""In the field, in a real browser: error and session pages in the interface's language with
its header and menu; scan lists that say what each scan is (product, item number, a status
chip, a beep and a buzz), checked as it is scanned, wrapping long values on a phone; what was
scanned and typed survives an expired session; a recall is a red banner on the merchant's
pages until acknowledged; the batch card and the zone board follow the server; scans made
offline wait on the device and are sent once when the network is back."""

import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from batches import services
from batches.actors import actor_for
from batches.models import Batch, Code, CodeStatus, Event, IdempotencyRecord
from batches.tasks import sweep_due_rests
from markets.models import Sale

from .conftest import PASSWORD, PHONE


def released_batch():
    return Batch.objects.get(customs_declaration_no="DEMO-07-RELEASED")


def codes(status):
    return list(Code.objects.filter(batch=released_batch(), status=status).select_related("line").order_by("item_no"))


@pytest.fixture
def demo(people):
    call_command("seed_demo", password=PASSWORD)
    return people


@pytest.mark.e2e
def test_error_pages_are_in_the_interface_language_with_its_menu(demo):
    merchant = demo("merchant-a1", label="field-merchant")
    merchant.sign_in()
    page = merchant.page
    answer = page.goto(merchant.base_url + "/batches/NO-SUCH-BATCH/")
    assert answer.status == 404
    assert "页面不存在" in merchant.text() and page.locator("nav.menu a").count() == 5
    assert page.locator("meta[name=viewport]").count() == 1 and merchant.wide() <= 0
    merchant.shot("404")  # and in English:
    merchant.language("en")
    page.reload()
    assert "Page not found" in merchant.text() and "My sales" in page.inner_text("nav.menu")
    merchant.language("zh-hans")
    answer = page.goto(merchant.base_url + "/review/")  # the reviewer's queue
    assert answer.status == 403
    assert "无权访问此页面" in merchant.text() and page.locator("nav.menu").count() == 1
    merchant.shot("403")


@pytest.mark.e2e
def test_an_expired_session_keeps_the_scans_and_the_buyer(demo):
    sellable = codes(CodeStatus.RELEASED)[:2]
    merchant = demo("merchant-a1", label="field-session")
    merchant.sign_in()
    page = merchant.page
    merchant.go("/sales/new/")
    box = page.locator("[data-scan-input]")
    for code in sellable:
        box.fill(code.token)
        box.press("Enter")
    page.wait_for_selector("[data-scan-rows] li[data-scan-state=ok] >> nth=1")
    page.fill("#id_buyer_name", "王女士")
    page.fill("#id_buyer_phone", "13912345678")
    # The session ends (cookies gone, as after a long pause or a sign-out elsewhere) ...
    merchant.context.clear_cookies()
    with page.expect_navigation():
        page.click("[data-testid=sale-submit]")
    # ... the refusal is our page, in Chinese, with the header, leading back to the form
    assert "登录已过期" in merchant.text() and "CSRF" not in merchant.text()
    assert page.locator("header.site-head").count() == 1
    merchant.shot("session-expired", both=False)
    merchant.submit("[data-testid=sign-in-again]")
    assert "回到刚才的页面" in page.inner_text("[data-testid=session-note]")
    page.fill("#id_username", "merchant-a1")
    page.fill("#id_password", PASSWORD)
    merchant.submit("main form button[type=submit]")
    assert page.url.endswith("/sales/new/")
    # Everything is back: the two scans (checked again) and the buyer
    page.wait_for_selector("[data-scan-rows] li[data-scan-state=ok] >> nth=1")
    assert page.inner_text("[data-scan-count]") == "2"
    assert page.input_value("#id_buyer_name") == "王女士"
    assert page.input_value("#id_buyer_phone") == "13912345678"
    merchant.submit("[data-testid=sale-submit]")
    assert "已登记" in merchant.flash()
    assert Sale.objects.get().items.count() == 2
    # Sent and accepted: the draft is gone
    merchant.go("/sales/new/")
    assert page.inner_text("[data-scan-count]") == "0" and page.input_value("#id_buyer_name") == ""


@pytest.mark.e2e
def test_each_scan_is_checked_at_once_and_said_in_words_beep_and_buzz(demo):
    sellable = codes(CodeStatus.RELEASED)[0]
    in_warehouse = codes(CodeStatus.IN_WAREHOUSE)[0]
    merchant = demo("merchant-a1", label="field-scan").with_signals()
    merchant.sign_in()
    page = merchant.page
    merchant.go("/sales/new/")
    # No phone keyboard until the box is tapped; a scanner types into it all the same
    assert page.get_attribute("[data-scan-input]", "inputmode") == "none"
    assert page.evaluate("document.activeElement.dataset.scanInput") == ""
    box = page.locator("[data-scan-input]")
    box.type(sellable.token)
    box.press("Enter")
    ok = page.wait_for_selector("[data-scan-rows] li[data-scan-state=ok]")
    row = ok.inner_text()
    assert sellable.line.product_name in row and f"第 {sellable.item_no} 件" in row and "可以" in row
    assert page.evaluate("window.__signals") == ["beep", "vibrate:60"]
    # A code still in the warehouse: refused at once, with the reason, and two low beeps
    box.fill(in_warehouse.token)
    box.press("Enter")
    bad = page.wait_for_selector("[data-scan-rows] li[data-scan-state=bad]")
    # said in words: why not, and who acts first (not a status: 「当前不可操作：在仓」)
    assert "仍在监管仓内：需仓库人员先出仓交给您" in bad.inner_text()
    assert f"第 {in_warehouse.item_no} 件" in bad.inner_text()
    assert page.evaluate("window.__signals")[-3:] == ["beep", "beep", "vibrate:[120,80,120]"]
    # A long foreign URL, twice: unknown, and the duplicate message wraps on the phone
    long_url = "https://evil.example/c/" + sellable.token + "/" + "x" * 180
    for _ in range(2):
        box.fill(long_url)
        box.press("Enter")
    page.wait_for_selector("[data-scan-rows] li[data-scan-state=bad] >> nth=1")
    assert "已扫描过" in page.inner_text("[data-scan-feedback]")
    assert "2 个扫描的追溯码有问题：" in page.inner_text("[data-scan-summary]")
    assert merchant.wide() <= 0
    # Every button on the page is at least 44 px each way (the remove buttons included)
    small = page.evaluate(
        "[...document.querySelectorAll('main button, main .btn, nav a, header button')]"
        ".filter(b => b.offsetParent).map(b => b.getBoundingClientRect())"
        ".filter(r => r.width < 44 || r.height < 44).length"
    )
    assert small == 0
    labels = page.eval_on_selector_all("[data-scan-rows] button", "bs => bs.map(b => b.getAttribute('aria-label'))")
    assert labels[0] == f"删除 第 {sellable.item_no} 件"
    merchant.shot("sell-checked", both=False)
    # Submitted as it is: every problem is said at once, nothing sold, and the page still fits
    merchant.page.fill("#id_buyer_name", "王女士")
    merchant.page.fill("#id_buyer_phone", "13912345678")
    merchant.submit("[data-testid=sale-submit]")
    assert "2 个扫描的追溯码有问题" in merchant.flash()
    assert page.locator(".form-errors li[data-problem]").count() == 2
    assert merchant.wide() <= 0 and Sale.objects.count() == 0
    # The phone's tab bar is at the bottom and shows every tab whole
    bar = page.eval_on_selector("nav.menu", "n => n.getBoundingClientRect().bottom")
    assert abs(bar - PHONE["height"]) < 2
    clipped = page.eval_on_selector_all("nav.menu a", "as => as.filter(a => a.scrollWidth > a.clientWidth).length")
    assert clipped == 0


@pytest.mark.e2e
def test_a_recall_is_a_red_banner_on_the_merchants_pages_until_acknowledged(demo):
    batch = released_batch()
    regulator = actor_for(Batch.objects.get(pk=batch.pk).market.district.regulators.first().user)
    services.batch_recall(batch=batch, actor=regulator, reason="境外通报阳性")
    merchant = demo("merchant-a1", label="field-recall")
    merchant.sign_in()
    page = merchant.page
    for path in ("/", "/sales/", "/sales/new/", "/batches/"):
        merchant.go(path)
        banner = page.locator("[data-testid=recall-banner]")
        assert banner.count() == 1 and batch.number in banner.inner_text(), path
        assert page.eval_on_selector("[data-testid=recall-banner]", "e => getComputedStyle(e).backgroundColor") == (
            "rgb(180, 35, 24)"
        )
    merchant.shot("recall-banner")
    merchant.submit("[data-testid=recall-ack]")
    assert page.url.endswith("/batches/")
    assert page.locator("[data-testid=recall-banner]").count() == 0
    merchant.go("/")
    assert page.locator("[data-testid=recall-banner]").count() == 0


@pytest.mark.e2e
def test_the_zone_board_and_the_batch_card_follow_the_server(demo):
    resting = Batch.objects.get(customs_declaration_no="DEMO-05-RESTING")
    coded = released_batch()
    operator = demo("operator-1", label="field-live")
    operator.sign_in()
    page = operator.page
    operator.go("/warehouse/board/")
    assert resting.number in page.inner_text(".board-resting")
    # The rest ends (the beat's sweep): the board shows it without anyone reloading
    Batch.objects.filter(pk=resting.pk).update(rest_until=timezone.now())
    assert sweep_due_rests() >= 1
    page.wait_for_function(
        "n => [...document.querySelectorAll('.board-resting .board-card')]"
        ".some(c => c.textContent.includes(n) && c.textContent.includes('静置期满'))",
        arg=resting.number,
        timeout=20_000,
    )
    # Another scanner releases a code of the batch on the card: the card's counts follow
    operator.go(f"/scan/?q={coded.number}")
    before = page.inner_text("#batch-card")
    other = actor_for(Batch.objects.get(pk=coded.pk).warehouse.operators.first().user)
    token = codes(CodeStatus.IN_WAREHOUSE)[0].token
    services.batch_release(batch=Batch.objects.get(pk=coded.pk), actor=other, tokens=[token])
    page.wait_for_function("t => document.querySelector('#batch-card').innerText !== t", arg=before, timeout=20_000)
    assert page.url.endswith(f"/scan/?q={coded.number}")


@pytest.mark.e2e
def test_a_link_followed_as_the_card_would_reload_goes_where_it_was_asked(demo):
    coded = released_batch()
    operator = demo("operator-1", label="field-leave")
    operator.sign_in()
    page = operator.page

    def quick_polls(route):  # the card asks the server every 0.3 s instead of every 5 s
        answer = route.fetch()
        body = answer.text().replace('id="batch-card"', 'id="batch-card" data-live-interval="300"', 1)
        route.fulfill(response=answer, body=body)

    page.route(lambda url: "/scan/?q=" in url, quick_polls)
    operator.go(f"/scan/?q={coded.number}")
    page.wait_for_timeout(600)  # the first polls have seen the card as it is
    other = actor_for(Batch.objects.get(pk=coded.pk).warehouse.operators.first().user)
    token = codes(CodeStatus.IN_WAREHOUSE)[0].token
    services.batch_release(batch=Batch.objects.get(pk=coded.pk), actor=other, tokens=[token])

    def slow_board(route):  # the board answers slowly: several polls see the change meanwhile
        time.sleep(1.5)
        route.continue_()

    page.route("**/warehouse/board/", slow_board)
    operator.submit("nav.menu >> text=分区看板")
    assert page.url.endswith("/warehouse/board/")


@pytest.mark.e2e
def test_scans_made_offline_wait_on_the_device_and_are_sent_once(demo):
    batch = released_batch()
    waiting = codes(CodeStatus.IN_WAREHOUSE)[:3]
    operator = demo("operator-1", label="field-offline")
    operator.sign_in()
    page = operator.page
    operator.go(f"/warehouse/release/{batch.number}/")
    started = timezone.now()
    # The first answer of the server is lost on the way back (the server did the release):
    # the device keeps the scan and sends it again with the same Idempotency-Key.
    sent = []

    def lose_first_answer(route):
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(route.request.headers.get("idempotency-key"))
        route.fetch()
        if len(sent) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/warehouse/release/*/", lose_first_answer)
    operator.context.set_offline(True)
    box = page.locator("[data-scan-input]")
    for code in waiting[:2]:
        box.fill(code.token)
        box.press("Enter")
    page.wait_for_selector("[data-scan-rows] li[data-scan-state=unchecked] >> nth=1")
    assert "无网络" in page.inner_text("[data-scan-rows]")
    page.click("[data-testid=release-submit]")
    page.wait_for_function("() => document.querySelector('[data-offline-note]').dataset.waiting === '1'")
    assert page.inner_text("[data-scan-count]") == "0"  # the list is cleared for the next scans
    assert "无网络" in page.inner_text("[data-scan-feedback]")
    box.fill(waiting[2].token)
    box.press("Enter")
    page.click("[data-testid=release-submit]")
    page.wait_for_function("() => document.querySelector('[data-offline-note]').dataset.waiting === '2'")
    assert "3 件待提交" in page.inner_text("[data-offline-note]")  # counted in items, not requests
    operator.shot("offline-waiting", both=False)
    assert Code.objects.filter(pk__in=[c.pk for c in waiting], status=CodeStatus.RELEASED).count() == 0
    # The network is back
    operator.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    deadline = time.monotonic() + 20
    while page.evaluate("document.querySelector('[data-offline-note]').dataset.waiting") != "0":
        assert time.monotonic() < deadline, page.inner_text("[data-offline-note]")
        page.wait_for_timeout(300)
        page.evaluate("window.dispatchEvent(new Event('online'))")  # retry what lost its answer
    assert Code.objects.filter(pk__in=[c.pk for c in waiting], status=CodeStatus.RELEASED).count() == 3
    # Three requests for two queued releases: the retry carried the first one's key, and the
    # server did each release once
    assert len(sent) == 3 and sent[0] == sent[1] != sent[2]
    assert IdempotencyRecord.objects.filter(key__in=set(sent)).count() == 2
    assert Event.objects.filter(batch=batch, action="release", at__gte=started).count() == 2


@pytest.mark.e2e
def test_a_sale_made_offline_at_the_stall_is_recorded_when_the_network_is_back(demo):
    sellable = codes(CodeStatus.RELEASED)[:2]
    merchant = demo("merchant-a1", label="field-offline-sale")
    merchant.sign_in()
    page = merchant.page
    merchant.go("/sales/new/")
    merchant.context.set_offline(True)
    box = page.locator("[data-scan-input]")
    for code in sellable:
        box.fill(code.token)
        box.press("Enter")
    page.fill("#id_buyer_name", "王女士")
    page.fill("#id_buyer_phone", "13912345678")
    page.click("[data-testid=sale-submit]")
    page.wait_for_function("() => document.querySelector('[data-offline-note]').dataset.waiting === '1'")
    assert "无网络" in page.inner_text("[data-offline-note]") and Sale.objects.count() == 0
    assert page.input_value("#id_buyer_name") == ""  # ready for the next buyer
    merchant.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_function("() => document.querySelector('[data-offline-note]').dataset.waiting === '0'")
    sale = Sale.objects.get()
    assert sale.buyer_name == "王女士" and sorted(i.code_id for i in sale.items.all()) == sorted(c.pk for c in sellable)
    page.wait_for_selector("[data-queue-results] [data-result=done]")
    assert f"销售单 #{sale.pk}（2 件）" in page.inner_text("[data-queue-results]")
