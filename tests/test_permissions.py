"""Who may see and do what (SPEC §2, §4): a matrix over every endpoint of the core and every
kind of caller. The answer is decided in this order: 401 not signed in → 404 outside the
caller's scope → 403 the role may not → then the action itself (400 / 409 / success)."""

import pytest
from django.http import HttpRequest
from rest_framework.test import APIClient

from batches.models import Batch, Event
from tests.conftest import PASSWORD, Flow, declaration

USERS = [
    None,
    "merchant-a1",
    "merchant-a2",
    "merchant-b1",
    "merchant-c1",
    "merchant-d1",
    "reviewer-a",
    "reviewer-b",
    "reviewer-c",
    "reviewer-d",
    "operator-1",
    "operator-2",
    "regulator",
    "regulator-2",
    "regulator-city",
]
ROLE = {user: user.split("-")[0] for user in USERS if user}
OWN_MARKET = {
    "merchant-a1": "MKT-A",
    "merchant-a2": "MKT-A",
    "merchant-b1": "MKT-B",
    "merchant-c1": "MKT-C",
    "merchant-d1": "MKT-D",
}

# The batch under test is merchant-a1's, market A (district SC); once approved it is assigned to
# WH-1. regulator-2 (district GS) does not see it; regulator-city sees every district.
SEES_BEFORE_WAREHOUSE = {"merchant-a1", "reviewer-a", "regulator", "regulator-city"}
SEES = SEES_BEFORE_WAREHOUSE | {"operator-1"}

DISINFECTION = {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}


def expected(user, roles, sees):
    if user is None:
        return 401
    if user not in sees:
        return 404
    if ROLE[user] not in roles:
        return 403
    return None  # the action itself answers


def arrival(flow):
    return {"lines": flow.arrival()}


def resting_with_sample(flow, clock):
    flow.resting()
    flow.sample()


def stored(flow, clock):
    flow.to("stored", clock)


# path, method, how to prepare the batch, body, roles that may act (SPEC §4), success status
ACTIONS = {
    "edit": ("", "patch", lambda f, c: f.declare(), lambda f: {"origin_country": "FR"}, {"merchant"}, 200),
    "submit": ("submit/", "post", lambda f, c: f.declare(), lambda f: {}, {"merchant"}, 200),
    "approve": ("approve/", "post", lambda f, c: f.submitted(), lambda f: {"warehouse": "WH-1"}, {"reviewer"}, 200),
    "reject": ("reject/", "post", lambda f, c: f.submitted(), lambda f: {"reason": "资料不全"}, {"reviewer"}, 200),
    "revise": ("revise/", "post", lambda f, c: f.to("rejected"), lambda f: {}, {"merchant"}, 200),
    "arrive": ("arrive/", "post", lambda f, c: f.approved(), arrival, {"operator"}, 200),
    "return": (
        "return/",
        "post",
        lambda f, c: f.to("discrepancy"),
        lambda f: {"reason": "货单不符"},
        {"operator", "regulator"},
        200,
    ),
    "disinfect": ("disinfect/", "post", lambda f, c: f.pre_storage(), lambda f: DISINFECTION, {"operator"}, 201),
    "move_to_resting": ("move-to-resting/", "post", lambda f, c: f.disinfected(), lambda f: {}, {"operator"}, 200),
    "sample": (
        "samples/",
        "post",
        lambda f, c: f.resting(),
        lambda f: {"sample_no": "S9", "lab": "疾控中心"},
        {"operator"},
        201,
    ),
    "test_result": (
        "test-results/",
        "post",
        resting_with_sample,
        lambda f: {"sample_no": "S1", "result": "negative", "report_no": "R-1"},
        {"operator"},
        201,
    ),
    "move_to_storage": ("move-to-storage/", "post", lambda f, c: f.rest_complete(c), lambda f: {}, {"operator"}, 200),
    "issue_codes": ("issue-codes/", "post", stored, lambda f: {}, {"operator"}, 200),
    "release": ("release/", "post", lambda f, c: f.coded(c), lambda f: {"all": True}, {"operator"}, 200),
    "redisinfect": (
        "redisinfect/",
        "post",
        lambda f, c: f.to("quarantined"),
        lambda f: {"reason": "重新消毒"},
        {"regulator"},
        200,
    ),
    "destroy": ("destroy/", "post", lambda f, c: f.to("quarantined"), lambda f: {"reason": "销毁"}, {"regulator"}, 200),
}


def call(api, user, method, url, body):
    return getattr(api(user), method)(url, body, format="json")


@pytest.mark.parametrize("action", list(ACTIONS))
def test_action_matrix(api, clock, action):
    path, method, prepare, body, roles, success = ACTIONS[action]

    def fresh():
        flow = Flow(api)
        prepare(flow, clock)
        return flow

    # given a batch of merchant-a1 in a status where the action is allowed
    flow = fresh()
    sees = SEES if Batch.objects.get(number=flow.number).warehouse_id else SEES_BEFORE_WAREHOUSE
    before = (flow.detail("regulator"), Event.objects.count())

    # when every caller who may not take the action tries it (with a valid body)
    may = [user for user in USERS if expected(user, roles, sees) is None]
    for user in USERS:
        if user in may:
            continue
        response = call(api, user, method, f"/api/batches/{flow.number}/{path}", body(flow))
        # then the answer is 401, 404 or 403, in that order of precedence, and nothing changed
        assert response.status_code == expected(user, roles, sees), (user, response.status_code, response.content)
    assert (flow.detail("regulator"), Event.objects.count()) == before

    # and each caller who may take it succeeds (on a batch of their own in that status)
    assert may, action
    for i, user in enumerate(may):
        target = flow if i == 0 else fresh()
        response = call(api, user, method, f"/api/batches/{target.number}/{path}", body(target))
        assert response.status_code == success, (user, response.status_code, response.content)
        assert response.json()["number"] == target.number


READS = ["", "events/", "codes/"]


@pytest.mark.parametrize("status", ["draft", "coded"])
@pytest.mark.parametrize("read", READS)
def test_read_matrix(api, clock, status, read):
    flow = Flow(api).to(status, clock)
    sees = SEES if status == "coded" else SEES_BEFORE_WAREHOUSE

    for user in USERS:
        response = api(user).get(f"/api/batches/{flow.number}/{read}")
        want = 401 if user is None else 200 if user in sees else 404
        assert response.status_code == want, (user, read, response.status_code)
    # and the list shows the batch to exactly those who may see it
    for user in USERS[1:]:
        listed = [row["number"] for row in api(user).get("/api/batches/").json()["results"]]
        assert (flow.number in listed) == (user in sees), user


def test_unknown_batches_answer_404_like_hidden_ones(api):
    for user in ("merchant-a1", "operator-1", "regulator"):
        assert api(user).get("/api/batches/MKT-A-20990101-9999/").status_code == 404
        assert api(user).post("/api/batches/MKT-A-20990101-9999/submit/", {}, format="json").status_code == 404


@pytest.mark.parametrize("user", USERS)
def test_declaring_is_for_merchants(api, user):
    market = OWN_MARKET.get(user, "MKT-A")

    response = api(user).post("/api/batches/", declaration(market=market), format="json")

    want = 401 if user is None else 201 if ROLE[user] == "merchant" else 403
    assert response.status_code == want, response.content
    assert Batch.objects.count() == (1 if want == 201 else 0)
    if want == 201:
        assert response.json()["market"] == market


@pytest.mark.parametrize("path", ["/api/batches/", "/api/markets/", "/api/warehouses/", "/api/notifications/"])
def test_lists_are_for_signed_in_users(api, path):
    for user in USERS:
        response = api(user).get(path)
        assert response.status_code == (401 if user is None else 200), (user, response.status_code)
        if user is not None:
            assert {"count", "next", "previous", "results"} <= set(response.json())


def test_markets_and_warehouses_are_named_by_code(api):
    markets = api("merchant-a1").get("/api/markets/").json()["results"]
    warehouses = api("operator-2").get("/api/warehouses/").json()["results"]

    assert {m["code"]: m["warehouses"] for m in markets} == {"MKT-A": ["WH-1"], "MKT-B": ["WH-1"], "MKT-C": ["WH-2"]}
    # WH-2 (district SC) also serves market D of the second district (SPEC §5)
    assert {w["code"]: sorted(w["markets"]) for w in warehouses} == {
        "WH-1": ["MKT-A", "MKT-B"],
        "WH-2": ["MKT-C", "MKT-D"],
    }


def test_the_checks_run_in_the_order_of_the_spec(api):
    """401 → 404 → 403 → 400 → 409, each proved with a request that would also fail every later check:
    approve a draft (409) naming an unknown warehouse (400)."""
    flow = Flow(api)
    flow.declare()
    bad = {"warehouse": "WH-404"}
    url = f"/api/batches/{flow.number}/approve/"

    assert api(None).post(url, bad, format="json").status_code == 401
    assert api("reviewer-b").post(url, bad, format="json").status_code == 404
    assert api("merchant-a1").post(url, bad, format="json").status_code == 403
    assert api("reviewer-a").post(url, bad, format="json").status_code == 400
    response = api("reviewer-a").post(url, {"warehouse": "WH-1"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_an_anonymous_call_is_told_how_to_authenticate(api):
    response = api(None).get("/api/batches/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


# --- authentication ------------------------------------------------------------------------


def test_a_token_is_issued_for_username_and_password_and_works(world):
    client = APIClient()
    refused = client.post("/api/auth/token/", {"username": "operator-1", "password": "wrong"}, format="json")
    assert refused.status_code == 400 and "token" not in refused.json()

    response = client.post("/api/auth/token/", {"username": "operator-1", "password": PASSWORD}, format="json")

    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/warehouses/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/warehouses/").status_code == 401


def test_a_signed_in_browser_session_works_and_needs_its_csrf_token_to_act(api):
    flow = Flow(api)
    flow.declare()
    browser = APIClient(enforce_csrf_checks=True)
    # axes refuses authenticate() without the request it guards; the test client has none of its own
    assert browser.login(request=HttpRequest(), username="merchant-a1", password=PASSWORD)

    # reading works with the session alone
    assert browser.get(f"/api/batches/{flow.number}/").status_code == 200
    # acting without the CSRF token is refused, with it it works
    assert browser.post(f"/api/batches/{flow.number}/submit/", {}, format="json").status_code == 403
    assert flow.detail()["status"] == "draft"
    secret = "k" * 32
    browser.cookies["csrftoken"] = secret
    response = browser.post(f"/api/batches/{flow.number}/submit/", {}, format="json", HTTP_X_CSRFTOKEN=secret)
    assert response.status_code == 200
    assert response.json()["status"] == "submitted"


def test_a_session_of_another_merchant_sees_nothing_of_the_batch(api):
    flow = Flow(api)
    flow.declare()
    browser = APIClient()
    assert browser.login(request=HttpRequest(), username="merchant-a2", password=PASSWORD)

    assert browser.get(f"/api/batches/{flow.number}/").status_code == 404
    assert browser.get("/api/batches/").json()["count"] == 0


def test_a_signed_in_user_without_a_role_sees_no_batch(api, django_user_model):
    flow = Flow(api)
    flow.declare()
    django_user_model.objects.create_user("visitor", password=PASSWORD)
    client = APIClient()
    client.login(request=HttpRequest(), username="visitor", password=PASSWORD)

    assert client.get(f"/api/batches/{flow.number}/").status_code == 404
    assert client.get("/api/batches/").json()["count"] == 0
    assert client.post("/api/batches/", declaration(), format="json").status_code == 403
