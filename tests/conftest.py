"""Shared test base: the demo organisations, one API client and one signed-in web client per
named user, and a `flow` that walks a batch through the process the way the people would."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from batches.demo import create_demo_organisations
from config.celery import app as celery_app

PASSWORD = "test-pass-123"
LAST_DEMO_USER = "regulator-city"  # create_demo_organisations makes it last


def pytest_configure(config):
    from django.conf import settings

    # Hashing ten demo passwords with PBKDF2 would cost seconds per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_sessionfinish(session, exitstatus):
    """The Redis or PostgreSQL server a test started for itself, where the environment named
    none (tests/processes.py: redis_url, server_url), ends with the run."""
    from tests.processes import stop_own_servers

    stop_own_servers()


@pytest.fixture(autouse=True)
def eager_celery(settings):
    """Unit tests run tasks in-process; the worker tests start a real worker instead.

    With namespace="CELERY", Celery reads CELERY_TASK_ALWAYS_EAGER from the Django settings
    before `conf.task_always_eager`; without this deletion the assignment below (and a test's
    own `celery_app.conf.task_always_eager = False`) would be ignored and tasks sent to the broker."""
    del settings.CELERY_TASK_ALWAYS_EAGER
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The demo organisations are made once, with the test database: every test runs in a
    transaction that is rolled back, so each starts from this world as it was made."""
    with django_db_blocker.unblock():
        create_demo_organisations(password=PASSWORD)


@pytest.fixture
def world(db):
    # A test that commits (transactional_db) empties every table when it ends; the next one
    # makes the world again.
    if not get_user_model().objects.filter(username=LAST_DEMO_USER).exists():
        create_demo_organisations(password=PASSWORD)


@pytest.fixture
def empty_db(db):
    """A database without the demo organisations, for what starts from nothing (seeding, the
    first import of a city's organisations); the deletions are rolled back with the test."""
    from markets.models import District, Market, Merchant, Regulator, Reviewer
    from warehouse.models import Operator, Warehouse, Zone

    for model in (Regulator, Operator, Reviewer, Merchant, Zone, Warehouse, Market, District):
        model.objects.all().delete()
    get_user_model().objects.all().delete()


class Api:
    """API clients by demo username: `api("operator-1").post(...)`; `api(None)` is anonymous."""

    def __init__(self):
        self._clients = {}

    def __call__(self, username):
        if username not in self._clients:
            client = APIClient()
            if username is not None:
                user = get_user_model().objects.get(username=username)
                # Tests move the clock by days, past TOKEN_TTL_HOURS: these tokens do not expire.
                # Expiry itself is proved with tokens from POST /api/auth/token/ (tests/test_tokens.py).
                _, token = AuthToken.objects.create(user=user, expiry=None)
                client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            self._clients[username] = client
        return self._clients[username]


@pytest.fixture
def api(world):
    return Api()


class Browser:
    """Django test clients by demo username: `web("merchant-a1").get("/")`; `web(None)` is anonymous.
    No Accept-Language is sent, so pages come in the default language (zh-hans)."""

    def __init__(self):
        self._clients = {}

    def __call__(self, username):
        if username not in self._clients:
            client = Client()
            if username is not None:
                client.force_login(get_user_model().objects.get(username=username))
            self._clients[username] = client
        return self._clients[username]


@pytest.fixture
def web(world):
    return Browser()


LINES = [
    {
        "product_name": "羊毛大衣",
        "category": "服装",
        "specification": "女款 M 码",
        "quantity": 3,
        "unit": "件",
        "gtin": "09506000134352",
    },
    {"product_name": "真丝围巾", "category": "服饰配件", "specification": "180×70 cm", "quantity": 2, "unit": "条"},
]


def declaration(**overrides):
    body = {
        "market": "MKT-A",
        "customs_declaration_no": "310120261129000001",
        "origin_country": "IT",
        "port_of_entry": "上海浦东",
        "lines": [dict(line) for line in LINES],
    }
    body.update(overrides)
    return body


class Flow:
    """Walks one batch of merchant-a1 (market A, warehouse WH-1) through SPEC §3 over the API.
    Each step asserts the answer it expects, so a broken step names itself."""

    merchant, reviewer, operator, regulator = "merchant-a1", "reviewer-a", "operator-1", "regulator"
    market, warehouse = "MKT-A", "WH-1"

    def __init__(self, api, **people):
        """`people` may name another merchant/reviewer/operator/market/warehouse (see MARKET_B, MARKET_C)."""
        self.api = api
        self.number = None
        for name, value in people.items():
            assert name in {"merchant", "reviewer", "operator", "market", "warehouse"}, name
            setattr(self, name, value)

    def post(self, username, action, body=None, expect=200):
        response = self.api(username).post(f"/api/batches/{self.number}/{action}/", body or {}, format="json")
        assert response.status_code == expect, (action, response.status_code, response.content[:500])
        return response.json()

    def detail(self, username=None):
        response = self.api(username or self.merchant).get(f"/api/batches/{self.number}/")
        assert response.status_code == 200, response.content
        return response.json()

    def declare(self, **overrides):
        response = self.api(self.merchant).post(
            "/api/batches/", declaration(**{"market": self.market, **overrides}), format="json"
        )
        assert response.status_code == 201, response.content
        self.number = response.json()["number"]
        return response.json()

    def submitted(self):
        self.declare()
        return self.post(self.merchant, "submit")

    def approved(self):
        self.submitted()
        return self.post(self.reviewer, "approve", {"warehouse": self.warehouse})

    def arrival(self, *, short_by=0):
        lines = self.detail(self.operator)["lines"]
        return [
            {
                "line": line["id"],
                "received_quantity": line["quantity"] - (short_by if i == 0 else 0),
                "type_matches": True,
                "spec_matches": True,
            }
            for i, line in enumerate(lines)
        ]

    def pre_storage(self):
        self.approved()
        return self.post(self.operator, "arrive", {"lines": self.arrival()})

    def disinfected(self):
        self.pre_storage()
        return self.post(
            self.operator,
            "disinfect",
            {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"},
            expect=201,
        )

    def resting(self):
        self.disinfected()
        return self.post(self.operator, "move-to-resting")

    def sample(self, sample_no="S1"):
        return self.post(self.operator, "samples", {"sample_no": sample_no, "lab": "杭州市疾控中心"}, expect=201)

    def result(self, result="negative", sample_no="S1", report_no="R-1"):
        return self.post(
            self.operator,
            "test-results",
            {"sample_no": sample_no, "result": result, "report_no": report_no},
            expect=201,
        )

    def rest_complete(self, clock):
        """Resting with a negative sample, then the clock moves past rest_until and the sweep runs."""
        from batches.tasks import sweep_due_rests

        self.resting()
        self.sample()
        self.result("negative")
        clock.shift(7 * 24 * 3600 + 1)
        sweep_due_rests()
        assert self.detail()["status"] == "rest_complete"

    def coded(self, clock):
        self.rest_complete(clock)
        self.post(self.operator, "move-to-storage")
        return self.post(self.operator, "issue-codes")

    def to(self, status, clock=None):
        """Walk a new batch to any status of SPEC §3 along the usual path (`clock` from rest_complete on)."""

        def quarantined():
            self.resting()
            self.sample()
            self.result("positive")

        steps = {
            "draft": self.declare,
            "submitted": self.submitted,
            "rejected": lambda: (self.submitted(), self.post(self.reviewer, "reject", {"reason": "资料不全"})),
            "approved": self.approved,
            "discrepancy": lambda: (
                self.approved(),
                self.post(self.operator, "arrive", {"lines": self.arrival(short_by=1)}),
            ),
            "returned": lambda: (self.to("discrepancy"), self.post(self.operator, "return", {"reason": "货单不符"})),
            "pre_storage": self.pre_storage,
            "resting": self.resting,
            "rest_complete": lambda: self.rest_complete(clock),
            "quarantined": quarantined,
            "destroyed": lambda: (quarantined(), self.post(self.regulator, "destroy", {"reason": "阳性，销毁"})),
            "stored": lambda: (self.rest_complete(clock), self.post(self.operator, "move-to-storage")),
            "coded": lambda: self.coded(clock),
            "released": lambda: (self.coded(clock), self.post(self.operator, "release", {"all": True})),
        }
        steps[status]()
        assert self.detail(self.regulator)["status"] == status
        return self

    def codes(self, username=None):
        """Every code of the batch as the API lists it (token, serial, item_no, status, url), in item order."""
        codes, url = [], f"/api/batches/{self.number}/codes/"
        while url:
            response = self.api(username or self.operator).get(url)
            assert response.status_code == 200, response.content
            codes += response.json()["results"]
            url = response.json()["next"]
        return codes

    def released(self, clock):
        """Coded, then every code released to the merchant (SPEC §3); returns the codes."""
        self.coded(clock)
        assert self.post(self.operator, "release", {"all": True})["status"] == "released"
        return self.codes()


@pytest.fixture
def flow(api):
    return Flow(api)


# Other people's batches: market B goes to WH-1 like market A; market C to WH-2.
MARKET_B = {"merchant": "merchant-b1", "reviewer": "reviewer-b", "market": "MKT-B"}
MARKET_C = {
    "merchant": "merchant-c1",
    "reviewer": "reviewer-c",
    "operator": "operator-2",
    "market": "MKT-C",
    "warehouse": "WH-2",
}


@pytest.fixture
def new_flow(api):
    """Another batch walked by its own Flow: `new_flow()`, `new_flow(**MARKET_C)`."""
    return lambda **people: Flow(api, **people)


def row_counts():
    """How many batches, lines and events are stored (to prove that a refused request stored nothing)."""
    from batches.models import Batch, BatchLine, Event

    return {"batches": Batch.objects.count(), "lines": BatchLine.objects.count(), "events": Event.objects.count()}


@pytest.fixture
def clock():
    """A clock that stands still until the test moves it (`clock.shift(seconds)`)."""
    import time_machine
    from django.utils import timezone

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


# --- sales ------------------------------------------------------------------------------

BUYER = {"buyer_name": "王小姐", "buyer_phone": "13912345678", "buyer_kind": "consumer"}


@pytest.fixture
def sell(api):
    """`sell(tokens)` records a sale over the API as merchant-a1 and returns its JSON;
    `sell(tokens, username=..., expect=400, buyer_phone=...)` for other cases."""

    def sell(codes, *, username="merchant-a1", expect=201, headers=None, **buyer):
        response = api(username).post(
            "/api/sales/", {"codes": list(codes), **BUYER, **buyer}, format="json", headers=headers
        )
        assert response.status_code == expect, response.content[:800]
        return response.json()

    return sell
