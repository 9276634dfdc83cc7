"""Bad input never causes a 5xx (SPEC §4): for EVERY operation of the generated OpenAPI schema —
a new endpoint is covered as soon as it is routed — malformed bodies, query parameters and path
values answer 4xx and change nothing, for callers of each role (so that each operation is
reached by the role that may take it, not only refused at the door)."""

import json
import uuid
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.db.models import Count
from drf_spectacular.generators import SchemaGenerator

from batches.models import Batch, Code
from markets.models import Merchant

ROLES = ["merchant-a1", "reviewer-a", "operator-1", "regulator"]
METHODS = {"get", "post", "put", "patch", "delete"}
DEEP = 200  # nesting levels: far beyond the parser's limit, far below a RecursionError's
LONE_SURROGATE = "\ud800"


def operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation, schema["components"]


def resolve(schema: dict, components: dict) -> dict:
    while "$ref" in schema:
        schema = components["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return resolve(schema["allOf"][0], components)
    return schema


def body_schema(operation: dict, components: dict) -> dict | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    return resolve(content["application/json"]["schema"], components)


def state_of_the_world() -> dict:
    """Rows of every table of our apps, and how many batches and codes are in each status.
    Trace look-ups are left out: a regulator's look-up of an unknown code is recorded by
    design (SPEC §4 trace), and is not a change of the goods' record."""
    counts = {}
    for label in ("markets", "warehouse", "batches"):
        for model in apps.get_app_config(label).get_models():
            if model._meta.model_name != "tracequery":
                counts[model._meta.label] = model.objects.count()
    counts["batch statuses"] = list(Batch.objects.values_list("status").annotate(n=Count("id")).order_by("status"))
    counts["code statuses"] = list(Code.objects.values_list("status").annotate(n=Count("id")).order_by("status"))
    return counts


@pytest.fixture
def world_with_goods(flow, clock, sell):
    """A batch of market A, coded and released, with one sale: every kind of path value names
    a real object, so the requests get past the look-up to the input checks."""
    codes = flow.released(clock)
    sale = sell([codes[0]["token"]])
    return {
        "number": flow.number,
        "token": codes[1]["token"],
        "sale_id": sale["id"],
        "value": flow.number,
        "merchant_id": Merchant.objects.get(user__username="merchant-a1").pk,
        "job_id": str(uuid.uuid4()),
    }


def url(path: str, values: dict, **replaced) -> str:
    for name, value in {**values, **replaced}.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def malformed_path_values(name: str) -> list[str]:
    return ["%00", "a%00b", "%ED%A0%80", "%FF%FE", "9" * 40, "-1", "x" * 3000]


def malformed_query_values(parameter: dict) -> list[str]:
    schema = parameter.get("schema", {})
    values = ["\x00", "a\x00b"]
    if schema.get("type") == "integer":
        values += ["abc", "-1", "9" * 40, "1e400", "1.5"]
    elif schema.get("type") == "boolean":
        values += ["maybe", "2"]
    elif schema.get("enum") or schema.get("items", {}).get("enum"):
        values += ["no-such-choice"]
    elif parameter["name"] in ("from", "to"):
        values += ["2026-13-45", "9" * 40, "yesterday", "2026-02-30"]
    return values


def malformed_bodies(schema: dict | None, components: dict) -> list[tuple[str, bytes, str | None]]:
    """(what, raw body, the top-level field that must be blamed if the answer is 400)."""
    deep_object = '{"x":' * DEEP + "1" + "}" * DEEP
    bodies = [
        ("not JSON", b"{'x': 1", None),
        ("cut off", b'{"x": [', None),
        ("not UTF-8", '{"x": "é"}'.encode("latin-1"), None),
        ("an array", b"[]", None),
        ("a number", b"1e400", None),
        ("deep object", deep_object.encode(), None),
        ("deep array", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None),
        ("over the size limit", json.dumps({"x": "y" * (3 * 1024 * 1024)}).encode(), None),
        ("a NUL in a key", json.dumps({"x\x00": 1}).encode(), None),
    ]
    for name, prop in (schema or {}).get("properties", {}).items():
        prop = resolve(prop, components)
        if prop.get("readOnly"):
            continue

        def dumped(value, name=name) -> bytes:
            return json.dumps({name: value}).encode()

        bodies += [
            (f"{name}: NUL", dumped("a\x00b"), name),
            (f"{name}: lone surrogate", dumped(LONE_SURROGATE), name),
            (f"{name}: infinite number", f'{{"{name}": 1e400}}'.encode(), name),
            (f"{name}: nested object", dumped({"a": {"b": [1]}}), name),
        ]
        kind = prop.get("type")
        if kind == "string" and "maxLength" in prop:
            bodies.append((f"{name}: too long", dumped("x" * (prop["maxLength"] + 1)), name))
        if kind == "integer":
            bodies += [(f"{name}: huge", dumped(10**30), name), (f"{name}: -huge", dumped(-(10**30)), name)]
        if kind == "array":
            item = resolve(prop.get("items", {}), components)
            bodies += [
                (f"{name}: NUL item", dumped(["a\x00"]), name),
                (f"{name}: surrogate item", dumped([LONE_SURROGATE]), name),
            ]
            for inner in item.get("properties", {}):
                bodies += [
                    (f"{name}[].{inner}: NUL", dumped([{inner: "\x00"}]), name),
                    (f"{name}[].{inner}: huge", dumped([{inner: 10**30}]), name),
                    (f"{name}[].{inner}: surrogate", dumped([{inner: LONE_SURROGATE}]), name),
                ]
    return bodies


def send(client, method: str, target: str, body: bytes | None = None):
    if body is None:
        return client.generic(method.upper(), target)
    return client.generic(method.upper(), target, body, content_type="application/json")


def test_the_schema_lists_the_operations_this_test_walks(world):
    walked = {(path, method) for path, method, _operation, _components in operations()}
    assert len(walked) >= 40
    assert ("/api/batches/{number}/arrive/", "post") in walked and ("/api/sales/", "get") in walked


@pytest.mark.parametrize("username", ROLES)
def test_malformed_input_answers_4xx_and_changes_nothing_on_every_operation(api, world_with_goods, username):
    client = api(username)
    answers = []  # (status, method, target, what): every request, checked at the end with its context
    before = state_of_the_world()
    for path, method, operation, components in operations():
        parameters = operation.get("parameters", [])
        target = url(path, world_with_goods)
        for parameter in parameters:
            if parameter["in"] == "path":
                for value in malformed_path_values(parameter["name"]):
                    bad = url(path, world_with_goods, **{parameter["name"]: value})
                    answers.append((send(client, method, bad), method, bad, f"path {parameter['name']}", None))
            elif parameter["in"] == "query":
                for value in malformed_query_values(parameter):
                    bad = f"{target}?{urlencode({parameter['name']: value})}"
                    answers.append((send(client, method, bad), method, bad, f"query {parameter['name']}", None))
        junk = f"{target}?no_such_parameter=1"
        answers.append((send(client, method, junk), method, junk, "unknown query parameter", "no_such_parameter"))
        if method != "get":
            for what, body, blamed in malformed_bodies(body_schema(operation, components), components):
                answers.append((send(client, method, target, body), method, target, f"body {what}", blamed))

    problems = []
    for response, method, target, what, blamed in answers:
        if not 400 <= response.status_code < 500:
            problems.append((response.status_code, method, target[:80], what))
        elif blamed and response.status_code == 400 and blamed not in response.json():
            problems.append((response.status_code, method, target[:80], what, "blames", list(response.json())))
    assert problems == []
    assert len(answers) > 500
    assert state_of_the_world() == before
