"""The OpenAPI schema tells the truth (SPEC §4): every operation documents the errors it can
answer with the shared bodies, input limits are stated, lists are paginated; a query parameter
an endpoint does not document is refused with 400; an out-of-range period is no 5xx."""

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "post", "put", "patch", "delete"}
# The sign-in's input belongs to DRF's token view until it has a serializer of its own.
LIMITS_NOT_OURS = {("post", "/api/auth/token/")}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def resolve(node, schema):
    while isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def walk_input(node, schema, place=""):
    """Every (place, schema) of a request body, nested objects and arrays included."""
    node = resolve(node, schema)
    yield place, node
    for name, child in node.get("properties", {}).items():
        if not resolve(child, schema).get("readOnly"):
            yield from walk_input(child, schema, f"{place}.{name}")
    if "items" in node:
        yield from walk_input(node["items"], schema, f"{place}[]")


def test_every_operation_documents_its_errors_with_the_shared_bodies(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert "400" in responses, (method, path)
        if operation.get("security") != [{}] and path != "/api/auth/token/":
            assert "401" in responses, (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        for code in ("400", "401", "403", "404", "409"):
            if code in responses:
                assert responses[code]["content"], (method, path, code)
    conflict = schema["components"]["schemas"]["Conflict"]
    assert set(conflict["required"]) == {"detail", "code", "status", "allowed"}
    actions = [
        op for path, method, op in operations(schema) if path.startswith("/api/batches/{number}/") and method == "post"
    ]
    assert len(actions) >= 15 and all("409" in op["responses"] and "403" in op["responses"] for op in actions)


def test_every_input_states_its_limits(schema):
    unstated = []
    for path, method, operation in operations(schema):
        if (method, path) in LIMITS_NOT_OURS:
            continue
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        places = list(walk_input(body["schema"], schema)) if body else []
        places += [(f"?{p['name']}", p["schema"]) for p in operation.get("parameters", []) if p["in"] == "query"]
        for place, node in places:
            kind = node.get("type")
            if kind == "string" and not ({"maxLength", "enum", "format"} & set(node)) and place[:1] != "?":
                unstated.append((method, path, place, "maxLength"))
            if kind == "integer" and not {"minimum", "maximum"} <= set(node) and place != "?page":
                unstated.append((method, path, place, "minimum/maximum"))
            # a repeated query parameter of choices is bounded by its choices
            if kind == "array" and "maxItems" not in node and not (place[:1] == "?" and "enum" in node["items"]):
                unstated.append((method, path, place, "maxItems"))
    assert unstated == []


def test_the_sales_list_is_documented_as_paginated(schema):
    answer = schema["paths"]["/api/sales/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    shape = resolve(answer, schema)
    assert {"count", "next", "previous", "results"} <= set(shape["properties"])
    assert "page" in [p["name"] for p in schema["paths"]["/api/sales/"]["get"]["parameters"]]


@pytest.mark.parametrize(
    "username, url, junk",
    [
        ("reviewer-a", "/api/batches/?stauts=submitted", "stauts"),
        ("merchant-a1", "/api/sales/?merchant_id=1", "merchant_id"),
        ("regulator", "/api/markets/?format=api", "format"),
        ("regulator", "/api/trace/search/?q=MKT&limit=5", "limit"),
    ],
)
def test_a_query_parameter_the_endpoint_does_not_document_is_refused(api, username, url, junk):
    answer = api(username).get(url)

    assert answer.status_code == 400
    assert junk in answer.json()


def test_the_documented_parameters_still_work(api, flow):
    flow.submitted()
    queue = api("reviewer-a").get("/api/batches/", {"status": "submitted", "market": "MKT-A", "page": 1})
    assert queue.status_code == 200 and [b["number"] for b in queue.json()["results"]] == [flow.number]
    assert api("regulator").get("/api/trace/search/", {"q": flow.number}).status_code == 200
    merchant_sales = api("regulator").get("/api/trace/merchants/1/sales/", {"format": "csv"})
    assert merchant_sales.status_code in (200, 404)


def test_a_junk_parameter_on_a_change_is_refused_and_nothing_happens(api, flow):
    flow.submitted()

    answer = api("reviewer-a").post(
        f"/api/batches/{flow.number}/approve/?force=1", {"warehouse": "WH-1"}, format="json"
    )

    assert answer.status_code == 400 and "force" in answer.json()
    assert flow.detail()["status"] == "submitted"


@pytest.mark.parametrize(
    "period",
    [
        {"to": "9999-12-31"},
        {"from": "0001-01-01"},
        {"from": "0001-01-01T00:00:00+14:00"},
        {"to": "9999-12-31T23:59:59-12:00"},
        {"from": "9999-12-31"},
    ],
)
def test_a_period_at_the_ends_of_the_calendar_is_an_open_bound_not_a_500(api, period):
    assert api("merchant-a1").get("/api/sales/", period).status_code == 200
    assert api("regulator").get("/api/sales/", period).status_code == 200


def test_an_api_url_that_matches_no_route_answers_json_404(api):
    answer = api("merchant-a1").get("/api/sales/not-a-number/")

    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json" and answer.json()["detail"]


def test_a_lone_surrogate_or_nul_in_the_trace_search_body_is_a_field_error(api):
    for q in ["\ud800abc", "ab\x00c"]:
        answer = api("regulator").generic(
            "POST", "/api/trace/search/", json.dumps({"q": q}), content_type="application/json"
        )
        assert answer.status_code == 400 and "q" in answer.json()


def test_the_sales_list_answers_pages(api):
    answer = api("merchant-a1").get("/api/sales/")

    assert answer.status_code == 200 and set(answer.json()) == {"count", "next", "previous", "results"}


@pytest.mark.parametrize(
    ("username", "url", "name"),
    [
        ("merchant-a1", "/api/sales/?page=", "page"),
        ("regulator", "/api/incidents/?state=", "state"),
        ("regulator", "/api/markets/?district=", "district"),
        ("regulator", "/api/warehouses/?district=", "district"),
        ("reviewer-a", "/api/batches/?market=&status=submitted", "market"),
        ("merchant-a1", "/api/sales/?from=&to=2026-12-01", "from"),
    ],
)
def test_a_documented_query_parameter_given_empty_is_refused(api, username, url, name):
    answer = api(username).get(url)

    assert answer.status_code == 400 and list(answer.json()) == [name]


def test_text_query_parameters_are_documented_as_not_empty(schema):
    for path, _method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and parameter["schema"].get("type") == "string":
                assert parameter["schema"].get("minLength", 0) >= 1 or "enum" in parameter["schema"], (
                    path,
                    parameter,
                )
                assert not parameter.get("allowEmptyValue"), (path, parameter)


def test_period_parameters_are_typed_as_dates_and_times(schema):
    for path in ("/api/sales/", "/api/trace/merchants/{merchant_id}/sales/"):
        parameters = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        for name in ("from", "to"):
            formats = {branch.get("format") for branch in parameters[name]["anyOf"]}
            assert {"date", "date-time"} <= formats, (path, name)


@pytest.mark.parametrize(
    ("period", "status"),
    [
        ({"from": "2026-11-01"}, 200),
        ({"from": "2026-11-01T08:00:00+08:00"}, 200),
        ({"from": "2026-11-01t00:00:00.5z"}, 200),
        ({"to": "2026-12-31T23:59:60Z"}, 200),  # a leap second, which RFC 3339 allows
        ({"from": "2026-11-01T08:00"}, 200),  # no offset: Asia/Shanghai
        ({"from": "20261101"}, 400),  # ISO 8601's basic form, which Python reads but the schema refuses
        ({"from": "2026-11-01T08"}, 400),
        ({"from": " 2026-11-01"}, 400),
        ({"from": "2026-02-30"}, 400),
        ({"to": "2026-11-01T08:00:00+24:00"}, 400),
        ({"from": "yesterday"}, 400),
    ],
)
def test_a_period_bound_is_taken_exactly_in_the_forms_the_schema_states(api, period, status):
    answer = api("merchant-a1").get("/api/sales/", period)

    assert answer.status_code == status, answer.content


def test_an_edit_of_a_draft_is_documented_as_refusing_unknown_keys(schema, api, flow):
    body = schema["paths"]["/api/batches/{number}/"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert resolve(body, schema)["additionalProperties"] is False
    flow.declare()

    answer = api("merchant-a1").patch(f"/api/batches/{flow.number}/", {"status": "released"}, format="json")

    assert answer.status_code == 400 and "status" in answer.json()


def test_a_trace_search_longer_than_documented_is_refused_even_if_trimming_would_shorten_it(api):
    answer = api("regulator").post("/api/trace/search/", {"q": "   " + "x" * 298}, format="json")

    assert answer.status_code == 400 and "q" in answer.json()
