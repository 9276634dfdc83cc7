"""Bulk issuance that scales (docs/performance.md, Benchmarks): one code per received item, inserted in bounded
chunks (never one row at a time, never all rows at once), listed with pagination."""

import base64
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batches import services
from batches.codes import SERIAL_RE, TOKEN_RE
from batches.models import Code
from tests import conftest

GTIN = "09506000134352"
COATS = {
    "product_name": "羊毛大衣",
    "category": "服装",
    "specification": "女款 M 码",
    "quantity": 250,
    "unit": "件",
    "gtin": GTIN,
}
SCARVES = {
    "product_name": "真丝围巾",
    "category": "服饰配件",
    "specification": "180×70 cm",
    "quantity": 130,
    "unit": "条",
}


@pytest.fixture
def stored(flow, clock, monkeypatch):
    """Given 250 coats and 130 scarves in storage, gate met."""
    monkeypatch.setattr(conftest, "LINES", [COATS, SCARVES])
    flow.rest_complete(clock)
    flow.post("operator-1", "move-to-storage")
    return flow


def test_issuing_inserts_in_chunks_whatever_the_number_of_items(stored, monkeypatch):
    monkeypatch.setattr(services, "CODE_CHUNK", 100)

    with CaptureQueriesContext(connection) as queries:
        detail = stored.post("operator-1", "issue-codes")

    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "batches_code"')]
    assert detail["status"] == "coded" and detail["codes"]["total"] == 380
    assert len(inserts) == 3 + 2  # 250 coats in chunks of 100, then 130 scarves
    assert len(queries.captured_queries) < 40  # bounded: not one query per item


def test_every_item_gets_its_number_an_unguessable_serial_and_an_unguessable_token(stored):
    stored.post("operator-1", "issue-codes")

    codes = list(Code.objects.filter(batch__number=stored.number).select_related("line").order_by("item_no"))

    assert [code.item_no for code in codes] == list(range(1, 381))
    assert len({code.serial for code in codes}) == 380
    assert all(SERIAL_RE.match(code.serial) for code in codes)
    assert [code.line.product_name for code in codes] == ["羊毛大衣"] * 250 + ["真丝围巾"] * 130
    assert len({code.token for code in codes}) == 380
    assert all(TOKEN_RE.match(code.token) for code in codes)
    assert {code.status for code in codes} == {"in_warehouse"}


def test_tokens_carry_120_random_bits_each():
    tokens = services.new_tokens(1000)

    assert len(tokens) == len(set(tokens)) == 1000
    assert all(re.fullmatch(r"[A-Z2-7]{24}", token) for token in tokens)
    assert all(len(base64.b32decode(token)) == 15 for token in tokens)
    assert TOKEN_RE.match(services.new_token())


def test_digital_link_serials_carry_80_random_bits_in_gs1_ai_21_characters():
    serials = services.new_serials(1000)

    assert len(serials) == len(set(serials)) == 1000
    # 14–20 characters of GS1's AI 21 set, none of which needs escaping in a URL
    assert all(re.fullmatch(r"[A-Z2-7]{16}", serial) for serial in serials)
    assert all(len(base64.b32decode(serial)) == 10 for serial in serials)  # 80 bits


def test_the_codes_are_listed_page_by_page(api, stored):
    stored.post("operator-1", "issue-codes")

    first = api("operator-1").get(f"/api/batches/{stored.number}/codes/").json()
    last = api("operator-1").get(f"/api/batches/{stored.number}/codes/", {"page": 8}).json()

    assert first["count"] == 380 and len(first["results"]) == 50 and first["previous"] is None
    assert "page=2" in first["next"]
    assert [item["item_no"] for item in last["results"]] == list(range(351, 381)) and last["next"] is None
    coat, scarf = first["results"][0], last["results"][-1]
    assert SERIAL_RE.match(coat["serial"]) and coat["item_no"] == 1
    assert coat["url"].endswith(f"/01/{GTIN}/10/{stored.number}/21/{coat['serial']}")
    assert scarf["url"].endswith(f"/c/{scarf['token']}")
    assert set(coat) == {"token", "serial", "item_no", "status", "url"}
