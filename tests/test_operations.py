"""Running it (SPEC §5): the demo world, the health check, the API
documents, the warehouses' live occupancy, and a production configuration that Django's
deployment checks find clean."""

import os
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from rest_framework.test import APIClient

from batches.models import Batch
from markets.models import Merchant, Regulator, Reviewer
from warehouse.models import Operator, Warehouse

ROOT = Path(__file__).resolve().parent.parent


# --- seed_demo ----------------------------------------------------------------------------


def every_table():
    return {model._meta.label: model._base_manager.count() for model in apps.get_models(include_auto_created=True)}


def seed():
    out = StringIO()
    call_command("seed_demo", password="demo-pass-123", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_the_world_of_the_spec(empty_db):
    seed()

    assert {(w.code, tuple(sorted(m.code for m in w.markets.all()))) for w in Warehouse.objects.all()} == {
        ("WH-1", ("MKT-A", "MKT-B")),
        ("WH-2", ("MKT-C", "MKT-D")),  # market D is of the second district (SPEC §5)
    }
    assert {(m.user.username, m.market.code) for m in Merchant.objects.all()} == {
        ("merchant-a1", "MKT-A"),
        ("merchant-a2", "MKT-A"),
        ("merchant-b1", "MKT-B"),
        ("merchant-c1", "MKT-C"),
        ("merchant-d1", "MKT-D"),
    }
    assert {(r.user.username, r.market.code) for r in Reviewer.objects.all()} == {
        ("reviewer-a", "MKT-A"),
        ("reviewer-b", "MKT-B"),
        ("reviewer-c", "MKT-C"),
        ("reviewer-d", "MKT-D"),
    }
    assert {(o.user.username, o.warehouse.code) for o in Operator.objects.all()} == {
        ("operator-1", "WH-1"),
        ("operator-2", "WH-2"),
    }
    assert {
        (r.user.username, r.district.code if r.district else None, r.city_level) for r in Regulator.objects.all()
    } == {("regulator", "SC", False), ("regulator-2", "GS", False), ("regulator-city", None, True)}
    for warehouse in Warehouse.objects.all():
        assert sorted(warehouse.zones.values_list("kind", flat=True)) == ["pre_storage", "resting", "storage"]
    statuses = set(Batch.objects.values_list("status", flat=True))
    assert {"draft", "submitted", "approved", "pre_storage", "resting", "discrepancy", "coded"} <= statuses
    # and the demo users sign in with the given password
    response = APIClient().post(
        "/api/auth/token/", {"username": "reviewer-a", "password": "demo-pass-123"}, format="json"
    )
    assert response.status_code == 200 and response.json()["token"]


def test_seed_demo_walked_its_batches_through_the_real_lifecycle(db):
    seed()

    for batch in Batch.objects.all():
        events = list(batch.events.order_by("id"))
        assert events[0].action == "declare" and events[-1].status_after == batch.status, batch.number
    coded = Batch.objects.get(status="coded")
    rest = coded.events.get(action="complete_rest")
    assert rest.at >= coded.rest_until  # its rest was as long as any other (R1)


def test_seed_demo_run_twice_changes_nothing(db):
    seed()
    tables = every_table()
    batches = list(Batch.objects.order_by("number").values_list("number", "status", "updated_at"))

    second = seed()

    assert every_table() == tables
    assert list(Batch.objects.order_by("number").values_list("number", "status", "updated_at")) == batches
    assert "0 users and 0 batches created" in second


# --- /healthz -----------------------------------------------------------------------------


def test_healthz_reports_the_database_and_the_broker(client, db):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["broker"]) == ("ok", "ok", "ok")
    # per component (test_health_and_metrics), and the running version (contract: /healthz carries it)
    assert set(body) == {"status", "database", "broker", "beat", "outbox", "version"}


def test_healthz_answers_503_when_the_broker_is_unreachable(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"]) == ("unavailable", "ok")
    assert body["broker"].startswith("error")


# --- the API documents ---------------------------------------------------------------------

ACTION_PATHS = [
    "submit",
    "approve",
    "reject",
    "revise",
    "arrive",
    "return",
    "disinfect",
    "move-to-resting",
    "samples",
    "test-results",
    "move-to-storage",
    "issue-codes",
    "release",
    "redisinfect",
    "destroy",
]


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_the_openapi_schema_lists_every_batch_action(schema):
    assert schema["openapi"].startswith("3.")
    for action in ACTION_PATHS:
        assert "post" in schema["paths"][f"/api/batches/{{number}}/{action}/"], action
    for path in (
        "/api/batches/",
        "/api/batches/{number}/",
        "/api/batches/{number}/events/",
        "/api/batches/{number}/codes/",
        "/api/warehouses/",
        "/api/markets/",
        "/api/notifications/",
        "/api/auth/token/",
    ):
        assert path in schema["paths"], path


def test_each_action_is_documented_with_its_own_input(schema):
    operations = [schema["paths"][f"/api/batches/{{number}}/{action}/"]["post"] for action in ACTION_PATHS]
    ids = [op["operationId"] for op in operations]
    assert len(set(ids)) == len(ids)

    def request_schema(action):
        op = schema["paths"][f"/api/batches/{{number}}/{action}/"]["post"]
        ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
        return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else None

    assert "warehouse" in request_schema("approve")["properties"]
    assert "lines" in request_schema("arrive")["properties"]
    assert {"agent", "concentration", "method"} <= set(request_schema("disinfect")["properties"])
    assert "reason" in request_schema("reject")["properties"]
    assert request_schema("submit") is None
    disinfect = schema["paths"]["/api/batches/{number}/disinfect/"]["post"]
    assert "201" in disinfect["responses"]


def test_the_interactive_docs_are_served(db):
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    # Swagger UI's start-up script is a file of its own (no inline script under the CSP); it loads the schema
    assert b'<script src="/api/docs/?script=">' in response.content
    assert b"/api/schema/" in APIClient().get("/api/docs/", {"script": ""}).content


# --- zone occupancy ------------------------------------------------------------------------


def zones(api, warehouse="WH-1"):
    listed = {w["code"]: w for w in api("operator-1").get("/api/warehouses/").json()["results"]}
    return {z["kind"]: (z["batches"], z["items"]) for z in listed[warehouse]["zones"]}


def test_warehouse_zones_show_live_occupancy_as_a_batch_moves(flow, api, clock):
    empty = {"pre_storage": (0, 0), "resting": (0, 0), "storage": (0, 0)}
    flow.approved()
    assert zones(api) == empty  # approved, not yet arrived

    flow.post("operator-1", "arrive", {"lines": flow.arrival()})
    assert zones(api) == {**empty, "pre_storage": (1, 5)}

    flow.post(
        "operator-1", "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, expect=201
    )
    flow.post("operator-1", "move-to-resting")
    assert zones(api) == {**empty, "resting": (1, 5)}

    flow.sample()
    flow.result("negative")
    clock.shift(7 * 24 * 3600)
    from batches.tasks import sweep_due_rests

    sweep_due_rests()
    assert zones(api) == {**empty, "resting": (1, 5)}  # rest complete, still in the resting zone

    flow.post("operator-1", "move-to-storage")
    assert zones(api) == {**empty, "storage": (1, 5)}
    assert zones(api, "WH-2") == empty

    flow.post("operator-1", "issue-codes")
    flow.post("operator-1", "release", {"all": True})
    assert zones(api) == empty  # every item has left the warehouse


# --- production configuration --------------------------------------------------------------


def test_the_deployment_checks_are_clean_in_production_configuration(tmp_path):
    # Only what production sets: nothing of the test run's own environment leaks in.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VAR_DIR": str(tmp_path),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PUBLIC_BASE_URL": "https://trace.example.cn",
        "ALLOWED_HOSTS": "trace.example.cn",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output
