"""Sales (SPEC R4, §4): a merchant sells the codes released to them, once each; a sale of many
codes is all or nothing; a voided sale returns its codes to sellable; two sellers racing for
one code make exactly one sale."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from batches.models import Batch, Code, Event, Seal
from markets.accounts.tokens import token_issue
from markets.models import Merchant, Sale, SaleItem, mobile_validator, normalize_mobile
from tests.conftest import BUYER, LINES, MARKET_B, Flow

# 91330106MA2H0KDM17: a well-formed unified social credit code (check character 7).
CREDIT_CODE = "91330106MA2H0KDM17"
PHONE = "13912345678"
HUGE = "99999999999999999999999"


def statuses(flow):
    return {code["token"]: code["status"] for code in flow.codes()}


def test_a_merchant_sells_released_codes_to_a_buyer(flow, clock, sell):
    codes = flow.released(clock)
    first, second = codes[0], codes[3]

    # One scanned as a bare token, one as the full URL its QR encodes.
    sale = sell([first["token"], second["url"]])

    assert sale["codes"] == sorted([first["token"], second["token"]], key=[c["token"] for c in codes].index)
    assert (sale["buyer_name"], sale["buyer_kind"]) == ("王小姐", "consumer")
    assert sale["sold_at"].endswith("+08:00")
    now = statuses(flow)
    assert now[first["token"]] == now[second["token"]] == "sold"
    assert sorted(now.values()).count("released") == 3
    # R6: an event for the batch, status unchanged, in the same transaction.
    event = Event.objects.filter(batch__number=flow.number).last()
    assert (event.action, event.status_before, event.status_after) == ("sale", "released", "released")
    assert event.details["sale"] == sale["id"] and event.details["count"] == 2


def test_the_digital_link_on_a_gtin_label_sells_the_same_code(flow, clock, sell):
    codes = flow.released(clock)
    gtin_code = next(code for code in codes if "/01/09506000134352/" in code["url"])

    sale = sell([gtin_code["url"]])

    assert sale["codes"] == [gtin_code["token"]]


def test_a_business_buyer_may_carry_a_unified_social_credit_code(flow, clock, sell):
    codes = flow.released(clock)

    sale = sell(
        [codes[0]["token"]],
        buyer_kind="business",
        buyer_name="杭州某服饰有限公司",
        buyer_credit_code=CREDIT_CODE.lower(),
    )
    assert Sale.objects.get(pk=sale["id"]).buyer_credit_code == CREDIT_CODE

    wrong_check = sell([codes[1]["token"]], buyer_kind="business", buyer_credit_code=CREDIT_CODE[:-1] + "8", expect=400)
    assert "buyer_credit_code" in wrong_check
    consumer = sell([codes[1]["token"]], buyer_kind="consumer", buyer_credit_code=CREDIT_CODE, expect=400)
    assert "buyer_credit_code" in consumer
    assert Sale.objects.count() == 1


@pytest.mark.parametrize("phone, stored", [("13912345678", "13912345678"), ("+8613912345678", "13912345678")])
def test_a_mainland_mobile_number_is_accepted_with_or_without_plus_86(flow, clock, sell, phone, stored):
    codes = flow.released(clock)
    sale = sell([codes[0]["token"]], buyer_phone=phone)
    assert Sale.objects.get(pk=sale["id"]).buyer_phone == stored


@pytest.mark.parametrize(
    "body",
    [
        {"buyer_phone": "1391234567"},
        {"buyer_phone": "23912345678"},
        {"buyer_phone": "+85213912345678"},
        {"buyer_kind": "wholesaler"},
        {"buyer_name": ""},
        {"buyer_name": "名" * 201},
        {"codes": []},
    ],
)
def test_bad_sale_input_is_refused_field_by_field_and_nothing_is_stored(flow, clock, sell, body):
    codes = flow.released(clock)
    answer = (
        sell([codes[0]["token"]], expect=400, **body)
        if "codes" not in body
        else flow.api("merchant-a1").post("/api/sales/", {**BUYER, **body}, format="json").json()
    )
    assert set(answer) == set(body)
    assert Sale.objects.count() == 0 and set(statuses(flow).values()) == {"released"}


def test_a_sale_of_many_codes_is_all_or_nothing_with_the_problem_of_each(flow, clock, sell, new_flow):
    # Coded, but only the first three codes released; one of them already sold.
    flow.coded(clock)
    codes = flow.codes()
    flow.post("operator-1", "release", {"codes": [c["token"] for c in codes[:3]]})
    sell([codes[0]["token"]])
    others = new_flow(**MARKET_B)
    others.coded(clock)
    foreign = others.codes()[0]["token"]
    unknown = "A" * 24

    answer = sell(
        [codes[1]["token"], codes[0]["token"], codes[4]["token"], unknown, foreign, codes[1]["url"]], expect=400
    )

    problems = answer["codes"]
    assert set(problems) == {codes[0]["token"], codes[4]["token"], unknown, foreign, codes[1]["url"]}
    assert "已售出" in problems[codes[0]["token"]]
    assert "尚未出仓" in problems[codes[4]["token"]]
    assert "未知" in problems[unknown]
    # Another merchant's code is answered exactly like an unknown one (no existence oracle).
    assert problems[foreign] == problems[unknown]
    assert "重复" in problems[codes[1]["url"]]
    # Nothing changed: the good code is still for sale, one sale on record.
    assert statuses(flow)[codes[1]["token"]] == "released"
    assert Sale.objects.count() == 1 and SaleItem.objects.count() == 1


def test_only_the_merchant_the_code_was_released_to_may_sell_it(flow, clock, sell, api):
    codes = flow.released(clock)
    token = codes[0]["token"]

    # Another merchant of the same market: the code is not theirs, and the answer is the one an
    # unknown code gets, so it does not even reveal that the code exists.
    unknown = "A" * 24
    assert (
        sell([token], username="merchant-a2", expect=400)["codes"][token]
        == sell([unknown], username="merchant-a2", expect=400)["codes"][unknown]
    )
    # Roles that never sell.
    for username in ("operator-1", "reviewer-a", "regulator"):
        assert api(username).post("/api/sales/", {"codes": [token], **BUYER}, format="json").status_code == 403
    assert api(None).post("/api/sales/", {"codes": [token], **BUYER}, format="json").status_code == 401
    assert Sale.objects.count() == 0


def test_codes_of_a_recalled_batch_can_no_longer_be_sold(flow, clock, sell):
    codes = flow.released(clock)
    flow.post("regulator", "recall", {"reason": "进口冷链关联风险"})

    answer = sell([codes[0]["token"]], expect=400)

    assert "召回" in answer["codes"][codes[0]["token"]]


def test_voiding_a_sale_returns_its_codes_to_sellable(flow, clock, sell, api):
    codes = flow.released(clock)
    tokens = [codes[0]["token"], codes[1]["token"]]
    sale = sell(tokens)
    clock.shift(600)

    voided = api("merchant-a1").post(f"/api/sales/{sale['id']}/void/", {"reason": "顾客退货"}, format="json")

    assert voided.status_code == 200, voided.content
    assert voided.json()["voided_at"].endswith("+08:00") and voided.json()["void_reason"] == "顾客退货"
    assert {statuses(flow)[t] for t in tokens} == {"released"}
    event = Event.objects.filter(batch__number=flow.number).last()
    assert (event.action, event.details["reason"], event.details["codes_now"]) == ("sale_void", "顾客退货", "released")
    # Sellable again, to someone else; the voided sale stays on record.
    again = sell(tokens, buyer_name="李先生", buyer_phone="13700000009")
    assert again["id"] != sale["id"] and Sale.objects.count() == 2
    # Voided once only.
    twice = api("merchant-a1").post(f"/api/sales/{sale['id']}/void/", {"reason": "again"}, format="json")
    assert twice.status_code == 409 and twice.json()["code"] == "sale_voided"


def test_who_may_void_a_sale(flow, clock, sell, api):
    codes = flow.released(clock)
    sale = sell([codes[0]["token"]])
    url = f"/api/sales/{sale['id']}/void/"

    assert api(None).post(url, {"reason": "x"}, format="json").status_code == 401
    assert api("merchant-a2").post(url, {"reason": "x"}, format="json").status_code == 404
    assert api("operator-1").post(url, {"reason": "x"}, format="json").status_code == 404
    assert api("regulator").post(url, {"reason": "x"}, format="json").status_code == 403
    assert api("merchant-a1").post(url, {}, format="json").status_code == 400
    assert Sale.objects.get().voided_at is None


def test_a_sale_voided_after_its_batch_was_recalled_leaves_the_codes_recalled(flow, clock, sell, api):
    codes = flow.released(clock)
    sale = sell([codes[0]["token"]])
    flow.post("regulator", "recall", {"reason": "召回"})

    api("merchant-a1").post(f"/api/sales/{sale['id']}/void/", {"reason": "退货"}, format="json")

    assert set(statuses(flow).values()) == {"recalled"}
    assert "召回" in sell([codes[0]["token"]], expect=400)["codes"][codes[0]["token"]]


def test_a_sale_repeated_with_the_same_idempotency_key_is_recorded_once(flow, clock, sell):
    codes = flow.released(clock)
    headers = {"Idempotency-Key": "stall-A101-receipt-0001"}

    first = sell([codes[0]["token"]], headers=headers)
    second = sell([codes[0]["token"]], headers=headers)

    assert first == second and Sale.objects.count() == 1


def test_a_sale_across_two_batches_writes_one_event_for_each(flow, clock, sell, new_flow):
    one = flow.released(clock)
    other = new_flow()
    two = other.released(clock)

    sale = sell([one[0]["token"], two[0]["token"], two[1]["token"]])

    events = Event.objects.filter(action="sale", details__sale=sale["id"])
    assert sorted((e.batch.number, e.details["count"]) for e in events) == sorted([(flow.number, 1), (other.number, 2)])


def test_a_sale_across_two_batches_one_of_them_sealed_is_refused_whole(flow, clock, sell, new_flow):
    one = flow.released(clock)
    other = new_flow()
    two = other.released(clock)
    sealed = Batch.objects.get(number=other.number)
    Seal.objects.create(
        batch=sealed, sealed_at=sealed.created_at, sealed_by=get_user_model().objects.get(username="regulator")
    )

    answer = sell([one[0]["token"], two[0]["token"]], expect=409)

    assert answer["code"] == "sealed" and other.number in answer["detail"]
    assert Sale.objects.count() == 0
    assert statuses(flow)[one[0]["token"]] == statuses(other)[two[0]["token"]] == "released"


def test_merchants_list_their_own_sales_and_regulators_those_of_the_district(flow, clock, sell, api, new_flow):
    codes = flow.released(clock)
    sell([codes[0]["token"]])
    b = new_flow(**MARKET_B)
    sell([b.released(clock)[0]["token"]], username="merchant-b1", buyer_name="赵女士")

    own = api("merchant-a1").get("/api/sales/").json()
    assert own["count"] == 1 and own["results"][0]["buyer_name"] == "王小姐"
    assert api("merchant-a2").get("/api/sales/").json()["count"] == 0
    district = api("regulator").get("/api/sales/").json()
    assert district["count"] == 2
    merchant_b = Batch.objects.get(number=b.number).merchant_id
    assert api("regulator").get(f"/api/sales/?merchant={merchant_b}").json()["results"][0]["buyer_name"] == "赵女士"
    assert api("reviewer-a").get("/api/sales/").status_code == 403
    assert api("operator-1").get("/api/sales/").status_code == 403


def test_the_database_refuses_a_second_active_sale_of_a_code(flow, clock, sell):
    codes = flow.released(clock)
    sale = Sale.objects.get(pk=sell([codes[0]["token"]])["id"])
    code = Code.objects.get(token=codes[0]["token"])

    with pytest.raises(IntegrityError), transaction.atomic():
        SaleItem.objects.create(sale=sale, code=code)

    # A voided item does not count: the code may be sold again.
    SaleItem.objects.filter(sale=sale).update(voided=True)
    SaleItem.objects.create(sale=sale, code=code)


@pytest.mark.django_db(transaction=True)
def test_two_sellers_racing_for_one_code_make_exactly_one_sale(flow, clock):
    """Two phones at the same stall scan the same garment for two buyers at the same moment."""
    codes = flow.released(clock)
    token = codes[0]["token"]
    key = token_issue(user=get_user_model().objects.get(username="merchant-a1"))[1]
    start = threading.Barrier(2)
    answers = []

    def seller(buyer_phone):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            start.wait(timeout=10)
            response = client.post(
                "/api/sales/", {"codes": [token], **BUYER, "buyer_phone": buyer_phone}, format="json"
            )
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=seller, args=(phone,)) for phone in ("13911110001", "13922220002")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answers) == [201, 400]
    assert SaleItem.objects.filter(code__token=token, voided=False).count() == 1
    assert Sale.objects.count() == 1
    assert Code.objects.get(token=token).status == "sold"


def stale_first_read(monkeypatch):
    """The sale's first read of the codes (before its batch locks) sees every code `released`,
    as if another sale, void or recall had changed them right after that read."""
    from markets import services

    first_read = services._sale_scans

    def stale(*args):
        problems, chosen, scanned_as = first_read(*args)
        for code in chosen.values():
            code.status = "released"
        return problems, chosen, scanned_as

    monkeypatch.setattr(services, "_sale_scans", stale)


def test_if_two_sales_ever_passed_the_status_check_the_constraint_still_makes_one(flow, clock, sell):
    """The last word is the database's: a sold code whose status reads `released` again (written
    behind the service's back) passes every status check, and its active sale item stops it."""
    codes = flow.released(clock)
    sell([codes[0]["token"]])
    Code.objects.filter(token=codes[0]["token"]).update(status="released")

    answer = sell([codes[0]["token"], codes[1]["token"]], buyer_phone="13700000001", expect=400)

    assert answer["codes"] == {codes[0]["token"]: "该追溯码已售出。"}
    assert Sale.objects.count() == 1 and statuses(flow)[codes[1]["token"]] == "released"


def test_a_code_sold_after_the_first_read_is_refused_under_the_locks(flow, clock, sell, monkeypatch):
    codes = flow.released(clock)
    sell([codes[0]["token"]])
    stale_first_read(monkeypatch)

    answer = sell([codes[0]["token"], codes[1]["token"]], buyer_phone="13700000001", expect=400)

    assert answer["codes"] == {codes[0]["token"]: "该追溯码已售出。"}
    assert Sale.objects.count() == 1 and statuses(flow)[codes[1]["token"]] == "released"


def test_a_code_recalled_after_the_first_read_is_refused_under_the_locks_and_nothing_is_stored(
    flow, clock, sell, monkeypatch
):
    codes = flow.released(clock)
    Code.objects.filter(token=codes[2]["token"]).update(status="recalled")
    stale_first_read(monkeypatch)

    answer = sell([codes[1]["token"], codes[2]["token"]], expect=400)

    assert answer["codes"] == {codes[2]["token"]: "该批次已召回，该追溯码不能销售。"}
    assert Sale.objects.count() == 0 and SaleItem.objects.count() == 0
    assert statuses(flow)[codes[1]["token"]] == "released"


class WholesaleFlow(Flow):
    """One line of 1,500 scarves, all bought by one business at once."""

    def declare(self, **overrides):
        return super().declare(lines=[dict(LINES[1], quantity=1500)], **overrides)


def test_a_business_buys_1500_coded_garments_in_one_sale_in_a_bounded_number_of_queries(
    api, clock, sell, django_assert_max_num_queries
):
    flow = WholesaleFlow(api)
    flow.coded(clock)
    flow.post("operator-1", "release", {"all": True})
    urls = [
        f"http://localhost:8000/c/{token}"
        for token in Code.objects.filter(batch__number=flow.number).order_by("item_no").values_list("token", flat=True)
    ]
    merchant = api("merchant-a1")

    with django_assert_max_num_queries(25):
        response = merchant.post(
            "/api/sales/",
            {"codes": urls, **BUYER, "buyer_kind": "business", "buyer_credit_code": CREDIT_CODE},
            format="json",
        )

    assert response.status_code == 201, response.content[:500]
    assert len(response.json()["codes"]) == 1500
    assert Code.objects.filter(batch__number=flow.number, status="sold").count() == 1500


# --- buyer mobile numbers: ASCII digits only, full-width input normalised ---------------------


def test_the_mobile_rule_takes_ascii_digits_only():
    mobile_validator("13912345678")
    mobile_validator("+8613912345678")
    for value in ("１３９１２３４５６７８", "1٣٩١٢٣٤٥٦٧٨"):
        with pytest.raises(ValidationError):
            mobile_validator(value)
    assert normalize_mobile("＋８６ １３９ １２３４ ５６７８") == PHONE


def test_a_full_width_phone_is_stored_in_ascii_and_other_digits_are_refused(flow, clock, sell):
    codes = flow.released(clock)
    sell([codes[0]["token"]], buyer_phone="１３９１２３４５６７８")
    assert Sale.objects.get().buyer_phone == PHONE
    refused = sell([codes[1]["token"]], buyer_phone="1٣٩١٢٣٤٥٦٧٨", expect=400)
    assert "buyer_phone" in refused and Sale.objects.count() == 1


# --- the sales list by merchant: ids that are not ids -----------------------------------------


@pytest.mark.parametrize("value", ["abc", HUGE, "²", "-1"])
def test_the_sales_list_refuses_a_bad_merchant_id(api, value):
    answer = api("regulator").get("/api/sales/", {"merchant": value})
    assert answer.status_code == 400 and "merchant" in answer.json()


def test_the_sales_list_still_filters_by_merchant(flow, clock, sell, api):
    codes = flow.released(clock)
    sell([codes[0]["token"]])
    merchant_id = Merchant.objects.get(user__username="merchant-a1").pk
    assert api("regulator").get("/api/sales/", {"merchant": merchant_id}).json()["count"] == 1
