"""Notices in a real browser on a small phone (360 × 740): a merchant whose two batches are sealed
sees one banner naming both at the top of every page, above the fold, until each seal is lifted;
the sealed item's public page says 正在核查 and never that the test passed; approval and
rejection reach the merchant's home page, unread ones marked. Screenshots in both languages go to
artifacts/screenshots/ like every browser test."""

import time

import pytest
from django.test import Client

from batches.models import Incident
from tests.conftest import Api, Flow

from .conftest import REST_SECONDS

SMALL_PHONE = {"width": 360, "height": 740}


def box(page, selector):
    return page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; }")


@pytest.mark.e2e
def test_a_seal_is_a_banner_naming_every_sealed_batch_and_the_public_page_says_under_investigation(people):
    api = Api()
    # given a lot of merchant-a1 arrived the same day as the positive batch, released and partly sold ...
    sold, positive = Flow(api), Flow(api)
    sold.disinfected()
    positive.pre_storage()
    sold.post("operator-1", "move-to-resting")
    sold.sample()
    sold.result("negative")
    time.sleep(REST_SECONDS + 0.5)
    sold.post("operator-1", "move-to-storage")
    sold.post("operator-1", "issue-codes")
    sold.post("operator-1", "release", {"all": True})
    token = sold.codes()[0]["token"]
    sale = api("merchant-a1").post(
        "/api/sales/",
        {"codes": [token], "buyer_name": "王小姐", "buyer_phone": "13912345678", "buyer_kind": "consumer"},
        format="json",
    )
    assert sale.status_code == 201, sale.content
    # ... and another of merchant-a1's batches resting beside it when the result comes back positive
    beside = Flow(api)
    beside.resting()
    positive.post(
        "operator-1", "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, 201
    )
    positive.post("operator-1", "move-to-resting")
    positive.sample()
    positive.result("positive")
    incident = Incident.objects.get(batch__number=positive.number)
    url = f"/api/incidents/{incident.pk}/"
    shopper = people(None, SMALL_PHONE, label="notices-public")
    shopper.page.goto(f"{shopper.base_url}/c/{token}")
    assert "检测合格" in shopper.page.inner_text("main")  # as it was before the seal

    # when the regulator seals both lots
    sealed = api("regulator").post(url + "seal/", {"batches": [sold.number, beside.number]}, format="json")
    assert sealed.status_code == 200, sealed.content

    # then the merchant's phone shows one banner naming both, at the top of every page
    merchant = people("merchant-a1", SMALL_PHONE, label="notices-seal").with_axe()
    merchant.sign_in()
    page = merchant.page
    tab_bar_top = box(page, "nav.menu")[0]
    for path in ("/", "/batches/", "/sales/new/"):
        merchant.go(path)
        banner = page.locator("[data-testid=seal-banner]")
        assert banner.count() == 1, path
        assert sold.number in banner.inner_text() and beside.number in banner.inner_text(), path
        top, bottom = box(page, "[data-testid=seal-banner]")
        assert 0 <= top < 200 and bottom <= tab_bar_top, (path, top, bottom, tab_bar_top)  # whole, above the fold
        assert merchant.wide() <= 0
    merchant.go("/")
    assert merchant.axe() == []
    merchant.shot("seal-banner")
    # and the seals are notices of their own on the home page, unread ones marked
    assert page.locator("[data-testid=notice][data-kind=sealed] .unread-mark").count() == 2

    # the sold item's public page, at once: under investigation, no test shown as passed
    shopper.page.reload()
    text = shopper.page.inner_text("main")
    assert "正在核查" in text and "检测合格" not in text and "已售出" not in text
    assert shopper.page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shopper.shot("under-investigation")
    english = Client().get(f"/c/{token}?lang=en").content.decode()
    assert "Under investigation" in english and "negative test" not in english

    # when one seal is lifted the banner names the other only; when both are, it is gone
    api("regulator").post(url + "lift-seal/", {"batches": [beside.number]}, format="json")
    merchant.go("/")
    banner = page.locator("[data-testid=seal-banner]")
    assert sold.number in banner.inner_text() and beside.number not in banner.inner_text()
    api("regulator").post(url + "lift-seal/", {"batches": [sold.number]}, format="json")
    merchant.go("/")
    assert page.locator("[data-testid=seal-banner]").count() == 0
    shopper.page.reload()
    assert "已售出" in shopper.page.inner_text("main") and "正在核查" not in shopper.page.inner_text("main")


@pytest.mark.e2e
def test_approval_and_rejection_reach_the_merchants_home_page(people):
    api = Api()
    approved, rejected = Flow(api), Flow(api)
    approved.approved()
    rejected.submitted()
    rejected.post("reviewer-a", "reject", {"reason": "缺少检疫证明"})

    merchant = people("merchant-a1", SMALL_PHONE, label="notices-home")
    merchant.sign_in()
    page = merchant.page
    notices = page.locator("[data-testid=notices]")
    text = notices.inner_text()
    assert f"批次 {rejected.number} 被驳回" in text and "缺少检疫证明" in text
    assert f"批次 {approved.number} 已审核通过" in text
    assert page.locator("[data-testid=notice] .unread-mark").count() == 2
    assert box(page, "[data-testid=notices]")[0] < 740  # on the first screen, not below the batch lists
    assert page.inner_text("[data-testid=badge-home]") == "2"
    merchant.shot("notices")
    merchant.go("/alerts/")
    merchant.submit("[data-testid=mark-read]")
    merchant.go("/")
    assert page.locator("[data-testid=notice] .unread-mark").count() == 0
    assert page.locator("[data-testid=badge-home]").count() == 0
