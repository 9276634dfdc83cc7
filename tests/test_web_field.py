"""The field pages without a browser: error pages with the menu, the CSRF page, the live
stamps (scoped like the pages), the recall acknowledgement, a sale's problems said at once."""

from django.test import Client, RequestFactory
from django.utils import timezone, translation

from batches.models import Batch, Code, Notification
from batches.web.field import server_error
from markets.models import Sale
from tests.test_web_support import text_of


def released(flow, clock):
    flow.coded(clock)
    flow.post("operator-1", "release", {"all": True})
    return list(Code.objects.filter(batch__number=flow.number).order_by("item_no"))


def test_403_and_404_are_pages_in_the_interface_language_with_the_menu(web):
    missing = web("merchant-a1").get("/batches/NO-SUCH/")
    assert missing.status_code == 404 and "页面不存在" in text_of(missing)
    assert 'class="menu"' in missing.content.decode() and 'name="viewport"' in missing.content.decode()
    wrong = web("merchant-a1").get("/review/")
    assert wrong.status_code == 403 and "无权访问此页面" in text_of(wrong) and 'class="menu"' in wrong.content.decode()
    # The API keeps its JSON answers
    assert web("merchant-a1").get("/api/no-such/").json() == {"detail": "未找到。"}
    english = web("merchant-a1")
    english.cookies["django_language"] = "en"
    assert "Page not found" in text_of(english.get("/batches/NO-SUCH/"))


def test_a_500_page_never_fails_itself(rf: RequestFactory, db):
    request = rf.get("/batches/")
    with translation.override("zh-hans"):
        answer = server_error(request)  # no user, no session: the bare page
    assert answer.status_code == 500 and "系统出错了" in answer.content.decode()


def test_a_form_sent_after_the_session_expired_leads_back_to_signing_in(db):
    client = Client(enforce_csrf_checks=True)
    answer = client.post("/sales/new/", {"codes": "X"})
    assert answer.status_code == 403
    body = answer.content.decode()
    assert "登录已过期" in body and "CSRF" not in body and "/accounts/login/?next=/sales/new/" in body


def test_the_live_stamps_change_with_the_batch_and_are_scoped(web, flow, clock):
    codes = released(flow, clock)
    number = flow.number
    url = f"/live/batches/{number}/"
    first = web("operator-1").get(url).json()["stamp"]
    assert web("operator-1").get(url).json()["stamp"] == first  # nothing changed
    Code.objects.filter(pk=codes[0].pk).update(status="sold")
    assert web("operator-1").get(url).json()["stamp"] != first
    assert web("operator-2").get(url).status_code == 404  # another warehouse: not there at all
    assert web("merchant-b1").get(url).status_code == 404
    assert Client().get(url).status_code == 401
    board = web("operator-1").get("/live/board/").json()["stamp"]
    clock.shift(60)
    Batch.objects.filter(number=number).update(updated_at=timezone.now())
    assert web("operator-1").get("/live/board/").json()["stamp"] != board
    assert web("merchant-a1").get("/live/board/").status_code == 403
    assert web("regulator").get("/live/board/?warehouse=WH-1").status_code == 200
    # The same warehouses as the board itself: the city sees every one, a district those
    # serving it (WH-2, in 上城区, serves market D of 拱墅区), and no other
    for username, code, answer in [
        ("regulator-city", "WH-2", 200),
        ("regulator-2", "WH-2", 200),
        ("regulator-2", "WH-1", 404),
        ("regulator", "NO-SUCH", 404),
    ]:
        assert web(username).get(f"/live/board/?warehouse={code}").status_code == answer, (username, code)
        assert web(username).get(f"/warehouse/board/?warehouse={code}").status_code == answer, (username, code)


def test_a_recall_notice_is_a_banner_until_its_merchant_acknowledges_it(web, flow, clock):
    released(flow, clock)
    flow.post("regulator", "recall", {"reason": "境外通报阳性"})
    notice = Notification.objects.get(kind="recall")
    page = web("merchant-a1").get("/sales/")
    assert 'data-testid="recall-banner"' in page.content.decode()
    # Someone else's notice cannot be acknowledged (it is not there for them)
    assert web("merchant-a2").post(f"/notices/{notice.pk}/ack/", {"next": "/"}).status_code == 404
    answer = web("merchant-a1").post(f"/notices/{notice.pk}/ack/", {"next": "https://evil.example/"})
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert 'data-testid="recall-banner"' not in web("merchant-a1").get("/sales/").content.decode()


def test_a_sale_says_the_buyers_and_the_codes_problems_at_once(web, flow, clock):
    codes = released(flow, clock)
    scans = [codes[0].token, codes[0].token, "AAAAAAAAAAAAAAAAAAAAAAAA"]
    answer = web("merchant-a1").post(
        "/sales/new/",
        {"buyer_name": "王女士", "buyer_phone": "123", "buyer_kind": "consumer", "codes": "\n".join(scans)},
    )
    text = text_of(answer)
    assert answer.status_code == 400 and Sale.objects.count() == 0
    assert "手机" in text and "同一追溯码重复出现。" in text and "未知的追溯码。" in text
