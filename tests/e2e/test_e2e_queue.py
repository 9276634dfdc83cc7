"""The device queue on a weak network that the phone still calls online (docs/web.md, "Field
writes and the device queue"): a sale and a release whose request is dropped, or whose answer
is lost after the server did the work, are kept on the device, sent again with the same key,
done once, and reported with the first result; the queue belongs to the person signed in; a
queued write refused in the end is shown with its reason; one that waited too long is dropped
with a notice."""

import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from batches import services
from batches.actors import actor_for
from batches.models import Batch, Code, CodeStatus, Event, IdempotencyRecord
from markets.models import Sale

from .conftest import PASSWORD

INK = "rgb(27, 31, 36)"  # --ink of app.css


def released_batch():
    return Batch.objects.get(customs_declaration_no="DEMO-07-RELEASED")


def codes(status, n):
    return list(Code.objects.filter(batch=released_batch(), status=status).order_by("item_no"))[:n]


@pytest.fixture
def demo(people):
    call_command("seed_demo", password=PASSWORD)
    return people


class Network:
    """A weak network for the page's POSTs to `pattern`: `drop` is "request" (never reaches the
    server) or "answer" (the server does the work, its answer is lost) for the first `bad`
    POSTs; `blocked` drops every POST's request while set. Every POST's key is kept in `sent`."""

    def __init__(self, page, pattern, drop="request", bad=1):
        self.sent, self.drop, self.bad, self.blocked = [], drop, bad, False
        page.route(pattern, self.handle)

    def handle(self, route):
        if route.request.method != "POST":
            route.continue_()
            return
        self.sent.append(route.request.headers.get("idempotency-key"))
        if self.blocked:
            route.abort("timedout")
        elif len(self.sent) <= self.bad:
            if self.drop == "answer":
                route.fetch()  # the server does it ...
            route.abort("connectionreset" if self.drop == "answer" else "timedout")  # ... the phone hears nothing
        else:
            route.continue_()


def scan(page, values):
    box = page.locator("[data-scan-input]")
    for value in values:
        box.fill(value)
        box.press("Enter")
    page.wait_for_selector(f"[data-scan-rows] li[data-scan-state=ok] >> nth={len(values) - 1}")


def sell(page, sellable):
    scan(page, [c.token for c in sellable])
    page.fill("#id_buyer_name", "王女士")
    page.fill("#id_buyer_phone", "13912345678")
    page.click("[data-testid=sale-submit]")


def waiting(page, items):
    page.wait_for_function(f"() => document.querySelector('[data-offline-note]').dataset.items === '{items}'")


def result(page, kind="done"):
    page.wait_for_selector(f"[data-queue-results] [data-result={kind}]", timeout=30_000)
    return page.inner_text("[data-queue-results]")


def sign_in_as(person, username):
    person.go("/accounts/login/")
    person.page.fill("#id_username", username)
    person.page.fill("#id_password", PASSWORD)
    person.submit("main form button[type=submit]")


def sign_out(person):
    person.submit("[data-testid=logout]")


@pytest.mark.e2e
@pytest.mark.parametrize("drop", ["request", "answer"])
def test_a_sale_on_a_weak_network_is_recorded_once_and_told_truthfully(demo, drop):
    sellable = codes(CodeStatus.RELEASED, 2)
    merchant = demo("merchant-a1", label=f"queue-sale-{drop}").with_axe()
    merchant.sign_in()
    page = merchant.page
    merchant.go("/sales/new/")
    network = Network(page, "**/sales/new/", drop=drop)
    assert page.evaluate("navigator.onLine")  # the phone says it is online all along
    sell(page, sellable)
    # No answer: kept on the device, counted in items, in a neutral colour; the form is free again
    waiting(page, 2)
    note = page.locator("[data-offline-note]")
    assert "2 件待提交" in note.inner_text() and "服务器没有应答" in page.inner_text("[data-scan-feedback]")
    colours = note.evaluate("n => [getComputedStyle(n).color, getComputedStyle(n).backgroundColor]")
    assert colours == [INK, "rgb(243, 245, 247)"]  # neutral: nothing failed yet
    assert page.eval_on_selector("[data-scan-feedback]", "e => getComputedStyle(e).color") == INK
    assert page.inner_text("[data-scan-count]") == "0" and page.input_value("#id_buyer_name") == ""
    assert merchant.wide() <= 0
    if drop == "answer":
        assert Sale.objects.count() == 1  # the server did it; the phone does not know yet
    merchant.shot(f"queue-waiting-{drop}", both=False)
    # Sent again with the same key: done once, and the first result said
    told = result(page)
    sale = Sale.objects.get()
    assert sale.items.count() == 2 and sale.buyer_name == "王女士"
    when = timezone.localtime(sale.sold_at).strftime("%H:%M")
    assert f"已于 {when} 售出，销售单 #{sale.pk}（2 件）。" in told and "有问题" not in told
    assert len(network.sent) == 2 and network.sent[0] == network.sent[1]
    assert IdempotencyRecord.objects.filter(key=network.sent[0]).count() == 1
    waiting(page, 0)
    assert page.inner_text("[data-scan-feedback]") == ""  # "kept on the device" no longer
    merchant.shot(f"queue-sent-{drop}", both=False)
    # The result stays until the person dismisses it, on any page of theirs
    merchant.go("/sales/")
    assert f"销售单 #{sale.pk}" in page.inner_text("[data-queue-results]")
    assert merchant.axe() == [] and merchant.wide() <= 0
    page.click("[data-queue-results] button")
    assert page.locator("[data-queue-results]").is_hidden()


@pytest.mark.e2e
@pytest.mark.parametrize("drop", ["request", "answer"])
def test_a_release_on_a_weak_network_is_done_once_and_told_truthfully(demo, drop):
    batch = released_batch()
    leaving = codes(CodeStatus.IN_WAREHOUSE, 2)
    operator = demo("operator-1", label=f"queue-release-{drop}")
    operator.sign_in()
    page = operator.page
    operator.go(f"/warehouse/release/{batch.number}/")
    started = timezone.now()
    network = Network(page, "**/warehouse/release/*/", drop=drop)
    scan(page, [c.token for c in leaving])
    page.click("[data-testid=release-submit]")
    waiting(page, 2)
    told = result(page)
    assert f"批次 {batch.number} 的 2 个追溯码。" in told and "已于 " in told
    assert Code.objects.filter(pk__in=[c.pk for c in leaving], status=CodeStatus.RELEASED).count() == 2
    assert Event.objects.filter(batch=batch, action="release", at__gte=started).count() == 1
    assert len(network.sent) == 2 and network.sent[0] == network.sent[1]


@pytest.mark.e2e
def test_an_arrival_check_on_the_batch_card_is_kept_and_not_offered_twice(demo):
    approved = Batch.objects.get(customs_declaration_no="DEMO-03-APPROVED")
    operator = demo("operator-1", label="queue-card")
    operator.sign_in()
    page = operator.page
    operator.go(f"/scan/?q={approved.number}")
    network = Network(page, "**/do/arrive/", drop="answer")
    for index, line in enumerate(approved.lines.order_by("id")):
        page.fill(f"#id_arrival-{index}-received_quantity", str(line.quantity))
        page.check(f"input[name=arrival-{index}-type_matches][value=on]")
        page.check(f"input[name=arrival-{index}-spec_matches][value=on]")
    page.click("[data-testid=do-arrive]")
    waiting(page, 1)
    # The form waits with its write: pressing again cannot send a second check
    assert page.locator("[data-testid=do-arrive]").is_disabled()
    assert "已保存在本设备" in page.inner_text("form[data-action=arrive]")
    told = result(page)
    assert "与申报相符" in told and "已于 " in told
    approved.refresh_from_db()
    assert approved.status == "pre_storage"
    assert Event.objects.filter(batch=approved, action="arrive").count() == 1
    assert len(network.sent) == 2 and network.sent[0] == network.sent[1]


@pytest.mark.e2e
def test_queued_writes_are_sent_only_for_the_person_who_made_them(demo):
    sellable = codes(CodeStatus.RELEASED, 2)
    merchant = demo("merchant-a1", label="queue-shared")
    merchant.sign_in()
    page = merchant.page
    merchant.go("/sales/new/")
    network = Network(page, "**/sales/new/", drop="request")
    network.blocked = True
    sell(page, sellable)
    waiting(page, 2)
    key = network.sent[0]
    # Signed out on the shared handheld; another merchant signs in and works with the network back
    sign_out(merchant)
    network.blocked = False
    sign_in_as(merchant, "merchant-a2")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    merchant.go("/sales/")
    page.wait_for_timeout(4500)  # two ticks of the queue, and more than its first backoff
    page.evaluate("window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(1000)
    assert network.sent.count(key) == 1 and Sale.objects.count() == 0
    assert page.locator("[data-offline-note]").is_hidden()  # nothing of theirs is shown either
    # The one who made it signs in again: it is sent, once
    sign_out(merchant)
    sign_in_as(merchant, "merchant-a1")
    told = result(page)
    sale = Sale.objects.get()
    assert f"销售单 #{sale.pk}" in told and sale.merchant.user.username == "merchant-a1"
    assert network.sent.count(key) == 2


@pytest.mark.e2e
def test_a_queued_sale_refused_in_the_end_is_shown_with_its_reason(demo):
    sellable = codes(CodeStatus.RELEASED, 2)
    merchant = demo("merchant-a1", label="queue-refused").with_axe()
    merchant.sign_in()
    page = merchant.page
    merchant.go("/sales/new/")
    network = Network(page, "**/sales/new/", drop="request")
    network.blocked = True
    sell(page, sellable)
    waiting(page, 2)
    # Meanwhile the batch is recalled
    batch = released_batch()
    regulator = actor_for(batch.market.district.regulators.first().user)
    services.batch_recall(batch=batch, actor=regulator, reason="境外通报阳性")
    network.blocked = False
    page.evaluate("window.dispatchEvent(new Event('online'))")
    told = result(page, "refused")
    assert "未完成" in told and "未售出任何商品" in told and "召回" in told
    assert Sale.objects.count() == 0
    waiting(page, 0)
    assert page.locator("[data-result=refused] [role=alert]").count() == 1
    assert merchant.axe() == []
    merchant.shot("queue-refused")  # kept on the device: the same after a reload, in English too
    assert page.input_value("#id_buyer_name") == "" and page.inner_text("[data-scan-count]") == "0"  # no draft left
    assert "未完成" in page.inner_text("[data-queue-results]")


@pytest.mark.e2e
def test_a_write_waiting_longer_than_the_server_keeps_its_key_is_dropped_with_a_notice(demo):
    sellable = codes(CodeStatus.RELEASED, 2)
    merchant = demo("merchant-a1", label="queue-expired")
    merchant.sign_in()
    page = merchant.page
    page.clock.install()
    merchant.go("/sales/new/")
    network = Network(page, "**/sales/new/", drop="request")
    network.blocked = True
    sell(page, sellable)
    waiting(page, 2)
    ttl = int(page.get_attribute("[data-offline-note]", "data-ttl"))
    page.clock.fast_forward((ttl + 60) * 1000)
    told = result(page, "expired")
    assert "未能及时提交" in told and "销售 2 件" in told and "核实是否已登记" in told
    waiting(page, 0)
    sent = len(network.sent)
    network.blocked = False
    page.evaluate("window.dispatchEvent(new Event('online'))")
    time.sleep(1)
    assert len(network.sent) == sent and Sale.objects.count() == 0  # never sent after it expired
    merchant.shot("queue-expired", both=False)


@pytest.mark.e2e
@pytest.mark.parametrize("drop", ["request", "answer"])
def test_a_photo_on_a_weak_network_is_kept_with_its_file_and_attached_once(demo, drop):
    from batches.models import Attachment
    from tests.test_web_writes import PNG

    batch = released_batch()
    operator = demo("operator-1", label=f"queue-photo-{drop}")
    operator.sign_in()
    page = operator.page
    operator.go(f"/scan/?q={batch.number}")
    network = Network(page, "**/photos/", drop=drop)
    page.set_input_files("#id_photo_file", {"name": "p.png", "mimeType": "image/png", "buffer": PNG})
    page.fill("#id_photo_note", "箱体外观")
    page.click("[data-testid=photo-form] button[type=submit]")
    waiting(page, 1)
    # "request": nothing reached the server; "answer": the server has it, the phone does not know
    assert Attachment.objects.filter(batch=batch).count() == (1 if drop == "answer" else 0)
    told = result(page)  # sent again from IndexedDB, the photo's file with it
    assert f"添加照片：批次 {batch.number}" in told
    assert Attachment.objects.filter(batch=batch).count() == 1
    assert Attachment.objects.get(batch=batch).note == "箱体外观"
    assert len(network.sent) == 2 and network.sent[0] == network.sent[1]
