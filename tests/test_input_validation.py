"""Bad input (SPEC §4 input rules): each violation answers 400 naming the field, and nothing
is stored — no batch, no line, no event."""

import json

import pytest

from batches.models import Batch, Disinfection, Status
from tests.conftest import BUYER, LINES, declaration, row_counts


def line(**overrides):
    return {**LINES[0], **overrides}


def declare_raw(api, body, content_type="application/json", user="merchant-a1"):
    return api(user).generic("POST", "/api/batches/", body, content_type=content_type)


@pytest.fixture
def nothing_stored(db):
    """Asserts after the test that the refused requests stored no batch, line or event."""
    before = row_counts()
    yield
    assert row_counts() == before


# --- the body itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, blamed",
    [
        (b'{"market": "MKT-A", "lines": [', "detail"),  # cut off
        (b"{'market': 'MKT-A'}", "detail"),  # not JSON
        ('{"market": "MKT-A"}'.encode("utf-16"), "detail"),  # not UTF-8
        (b"", "market"),  # no body at all: every required field is missing
    ],
)
def test_malformed_json_is_refused(api, nothing_stored, body, blamed):
    response = declare_raw(api, body)

    assert response.status_code == 400
    assert blamed in response.json()


@pytest.mark.parametrize("body", [[declaration()], "a string", 42, None])
def test_a_body_that_is_not_a_json_object_is_refused(api, nothing_stored, body):
    response = declare_raw(api, json.dumps(body))

    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_form_encoded_body_is_not_accepted(api, nothing_stored):
    response = declare_raw(api, "market=MKT-A", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415


def test_an_oversized_body_is_refused_before_it_is_read(api, nothing_stored, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    body = declaration(lines=[line(specification="x" * 150) for _ in range(500)])
    raw = json.dumps(body)
    assert len(raw.encode()) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = declare_raw(api, raw)

    assert response.status_code == 400
    assert "请求内容过大" in response.json()["detail"]  # in the interface's language


def test_a_body_over_the_default_limit_is_refused(api, nothing_stored):
    """The default limit (2 MiB) holds too: a 3 MiB declaration is refused."""
    raw = json.dumps(declaration(customs_declaration_no="x" * (3 * 1024 * 1024)))

    response = declare_raw(api, raw)

    assert response.status_code == 400
    assert "请求内容过大" in response.json()["detail"]  # refused before parsing, not by a field rule


# --- fields of a declaration ---------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("market", "MKT-Z"),  # unknown
        ("market", "MKT-B"),  # another merchant's market
        ("market", None),
        ("market", ["MKT-A"]),
        ("customs_declaration_no", ""),
        ("customs_declaration_no", "9" * 65),
        ("origin_country", "国" * 101),
        ("port_of_entry", {"name": "上海"}),
        ("lines", []),
        ("lines", None),
        ("lines", "羊毛大衣"),
        ("lines", [line() for _ in range(501)]),
    ],
)
def test_declaration_fields_are_checked(api, nothing_stored, field, value):
    response = api("merchant-a1").post("/api/batches/", declaration(**{field: value}), format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("field", ["market", "customs_declaration_no", "origin_country", "port_of_entry", "lines"])
def test_every_declaration_field_is_required(api, nothing_stored, field):
    body = declaration()
    del body[field]

    response = api("merchant-a1").post("/api/batches/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "field, value",
    [
        ("quantity", "abc"),
        ("quantity", 2.5),
        ("quantity", True),
        ("quantity", 0),
        ("quantity", -3),
        ("quantity", None),
        ("quantity", 10**12),
        ("product_name", "名" * 201),
        ("product_name", ""),
        ("specification", "s" * 201),
        ("category", "c" * 101),
        ("unit", "u" * 21),
        ("gtin", "09506000134353"),  # wrong check digit
        ("gtin", "0950600013435"),  # 13 digits, wrong check digit
        ("gtin", "1234567"),  # 7 digits
        ("gtin", "ABCDEFGHIJKLM"),
        ("gtin", "095060001343521"),  # 15 digits
    ],
)
def test_line_fields_are_checked(api, nothing_stored, field, value):
    body = declaration(lines=[line(), line(**{field: value})])

    response = api("merchant-a1").post("/api/batches/", body, format="json")

    assert response.status_code == 400, response.content
    errors = response.json()["lines"]
    assert errors[0] == {}  # the good line is not blamed
    assert field in errors[1]


@pytest.mark.parametrize("field", ["product_name", "category", "specification", "quantity", "unit"])
def test_every_line_field_but_gtin_is_required(api, nothing_stored, field):
    bad = line()
    del bad[field]

    response = api("merchant-a1").post("/api/batches/", declaration(lines=[bad]), format="json")

    assert response.status_code == 400
    assert field in response.json()["lines"][0]


@pytest.mark.parametrize("gtin", ["96385074", "614141000036", "4006381333931", "09506000134352", ""])
def test_valid_gtins_of_each_length_are_accepted(api, gtin):
    response = api("merchant-a1").post("/api/batches/", declaration(lines=[line(gtin=gtin)]), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["lines"][0]["gtin"] == gtin


def test_names_of_exactly_200_characters_are_accepted(api):
    body = declaration(lines=[line(product_name="名" * 200, specification="s" * 200)])

    assert api("merchant-a1").post("/api/batches/", body, format="json").status_code == 201


# --- fields of actions ---------------------------------------------------------------------


def test_editing_a_draft_checks_its_lines_too(flow):
    flow.declare()
    before = flow.detail()
    with_nothing_stored = row_counts()

    for bad in ([], [line(quantity=0)], [line(gtin="123")], "x"):
        response = flow.api("merchant-a1").patch(f"/api/batches/{flow.number}/", {"lines": bad}, format="json")
        assert response.status_code == 400, bad
        assert "lines" in response.json()

    assert flow.detail() == before
    assert row_counts() == with_nothing_stored


@pytest.mark.parametrize(
    "warehouse, reason",
    [("WH-9", "unknown"), ("WH-2", "does not serve MKT-A"), ("", "blank"), (None, "null"), (1, "an id, not a code")],
)
def test_approval_names_a_warehouse_that_serves_the_market(flow, warehouse, reason):
    flow.submitted()
    before = row_counts()

    response = flow.api("reviewer-a").post(
        f"/api/batches/{flow.number}/approve/", {"warehouse": warehouse}, format="json"
    )

    assert response.status_code == 400, reason
    assert "warehouse" in response.json()
    assert row_counts() == before
    assert flow.detail()["status"] == "submitted"


@pytest.mark.parametrize(
    "item, field",
    [
        ({"received_quantity": -1}, "received_quantity"),
        ({"received_quantity": "three"}, "received_quantity"),
        ({"received_quantity": 1.5}, "received_quantity"),
        ({"type_matches": "maybe"}, "type_matches"),
        ({"spec_matches": None}, "spec_matches"),
        ({"line": "first"}, "line"),
    ],
)
def test_an_arrival_check_with_wrong_types_is_refused(flow, item, field):
    flow.approved()
    lines = flow.arrival()
    lines[0].update(item)
    before = row_counts()

    response = flow.api("operator-1").post(f"/api/batches/{flow.number}/arrive/", {"lines": lines}, format="json")

    assert response.status_code == 400
    assert field in response.json()["lines"][0]
    assert row_counts() == before
    assert flow.detail()["status"] == "approved"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"concentration": "500 mg/L", "method": "喷洒"}, "agent"),
        ({"agent": "a" * 101, "concentration": "500 mg/L", "method": "喷洒"}, "agent"),
        ({"agent": "含氯消毒剂", "concentration": 500, "method": ["喷洒"]}, "method"),
    ],
)
def test_a_disinfection_record_is_checked(flow, body, field):
    flow.pre_storage()
    before = row_counts()

    response = flow.api("operator-1").post(f"/api/batches/{flow.number}/disinfect/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert row_counts() == before
    assert Disinfection.objects.count() == 0


def test_a_test_result_is_one_of_negative_positive_invalid(flow):
    flow.resting()
    flow.sample()
    before = row_counts()

    response = flow.api("operator-1").post(
        f"/api/batches/{flow.number}/test-results/",
        {"sample_no": "S1", "result": "阴性", "report_no": "R-1"},
        format="json",
    )

    assert response.status_code == 400 and "result" in response.json()
    assert row_counts() == before


def test_a_sample_number_is_used_once_per_batch(flow):
    flow.resting()
    flow.sample("S1")
    before = row_counts()

    response = flow.api("operator-1").post(
        f"/api/batches/{flow.number}/samples/", {"sample_no": "S1", "lab": "另一实验室"}, format="json"
    )

    assert response.status_code == 400 and "sample_no" in response.json()
    assert row_counts() == before


# --- NUL characters ---------------------------------------------------------------------------


def NUL_REFUSED() -> str:  # upper case as a constant: Django's own message, in the language the API speaks
    from django.core.validators import ProhibitNullCharactersValidator
    from django.utils import translation

    with translation.override("zh-hans"):
        return str(ProhibitNullCharactersValidator.message)


def test_nul_characters_in_the_path_or_the_query_answer_400(api, web):
    assert api("merchant-a1").get("/api/batches/a%00b/").status_code == 400
    assert api("operator-1").get("/api/scan/", {"value": "\x00x"}).status_code == 400
    assert api("operator-1").get("/api/scan/%00x/").status_code == 400
    assert web("merchant-a1").get("/batches/", {"q": "\x00"}).status_code == 400
    answer = web("merchant-a1").post("/batches/new/", {"customs_declaration_no": "31\x00", "then": "draft"})
    assert answer.status_code == 400 and Batch.objects.count() == 0


def test_nul_characters_in_a_market_or_warehouse_code_are_field_errors(api, flow):
    answer = api("merchant-a1").post("/api/batches/", declaration(market="MKT-A\x00"), format="json")
    assert answer.status_code == 400 and NUL_REFUSED() in str(answer.json()["market"])
    flow.submitted()
    answer = api("reviewer-a").post(f"/api/batches/{flow.number}/approve/", {"warehouse": "WH-1\x00"}, format="json")
    assert answer.status_code == 400 and NUL_REFUSED() in str(answer.json()["warehouse"])
    assert Batch.objects.get(number=flow.number).status == Status.SUBMITTED
    # DRF's own CharFields (text, list items) refuse them already
    answer = api("merchant-a1").post("/api/batches/", declaration(customs_declaration_no="31\x00"), format="json")
    assert answer.status_code == 400 and NUL_REFUSED() in str(answer.json()["customs_declaration_no"])
    answer = api("merchant-a1").post("/api/sales/", {"codes": ["A\x00"], **BUYER}, format="json")
    assert answer.status_code == 400 and NUL_REFUSED() in str(answer.json()["codes"])
