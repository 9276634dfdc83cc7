"""Code URLs are ours and unguessable; nothing tells an outsider whether a code exists (SPEC §4).

Given a coded batch of merchant-a1 in WH-1 — three coats with a GTIN (items 1–3, Digital Link
labels) and two scarves without (items 4–5, `/c/{token}` labels) — and PUBLIC_BASE_URL
http://localhost:8000:

- a scanned URL counts as a code only on our own host (or one of CODE_URL_HOSTS): a counterfeit
  label pointing elsewhere is an unknown code on scan, release and sale;
- Digital Link serials are random: sequential or guessed paths never resolve, and a guessed
  path answers exactly like an unknown token;
- a code that exists but is outside the caller's reach answers exactly like an unknown one.
"""

import pytest
from django.core.cache import cache
from django.test import Client

from batches.codes import parse_code_scan
from batches.models import Code
from markets.models import Sale
from tests.conftest import MARKET_C

GTIN = "09506000134352"
UNKNOWN_TOKEN = "A" * 24
BASE = "http://localhost:8000"


@pytest.fixture(autouse=True)
def fresh_throttle():
    cache.clear()
    yield
    cache.clear()


def codes_of(number) -> dict[int, Code]:
    return {code.item_no: code for code in Code.objects.filter(batch__number=number).select_related("batch", "line")}


def digital_link(code: Code, *, host=BASE, gtin=GTIN, lot=None, serial=None) -> str:
    return f"{host}/01/{gtin}/10/{lot or code.batch.number}/21/{serial or code.serial}"


def answer(response) -> tuple[int, bytes]:
    return response.status_code, response.content


# --- 1. only our own host ---------------------------------------------------------------------


def counterfeits(token: str) -> list[str]:
    """A real token in URLs that are not ours."""
    return [
        f"http://evil.example/c/{token}",
        f"https://evil.example:8000/c/{token}",
        f"http://localhost:8001/c/{token}",  # our host, another port
        f"http://localhost/c/{token}",  # our host, the default port: not what we print
        f"ftp://localhost:8000/c/{token}",  # not http(s)
        f"http://localhost:8000@evil.example/c/{token}",  # our address as a user part of a foreign host
        f"http://user@localhost:8000/c/{token}",  # nobody prints a user part
        f"evil.example/c/{token}",  # no scheme: not a path on our host either
        f"//evil.example/c/{token}",
        f"http://localhost:8000.evil.example/c/{token}",
        f"http://localhost:99999/c/{token}",  # not a port at all
    ]


def test_only_urls_on_our_own_host_and_port_are_codes():
    token = "ABCDEFGHIJKLMNOPQRSTUVWX"
    for value in (
        f"{BASE}/c/{token}",
        f"HTTP://LOCALHOST:8000/c/{token}",
        f"http://Localhost:8000/c/{token}/",
        f"/c/{token}",
        token,
    ):
        assert parse_code_scan(value).token == token, value
    for value in counterfeits(token):
        assert parse_code_scan(value) is None, value


def test_hosts_listed_in_code_url_hosts_count_too(settings):
    token = "ABCDEFGHIJKLMNOPQRSTUVWX"
    settings.CODE_URL_HOSTS = ["verify.example.cn", "10.0.0.5:8080"]
    for value in (
        f"https://verify.example.cn/c/{token}",
        f"http://VERIFY.example.cn:80/c/{token}",
        f"http://10.0.0.5:8080/c/{token}",
        f"{BASE}/c/{token}",
    ):
        assert parse_code_scan(value).token == token, value
    for value in (
        f"https://verify.example.cn:8443/c/{token}",
        f"http://10.0.0.5/c/{token}",
        f"https://example.cn/c/{token}",
        f"https://evil.verify.example.cn/c/{token}",
    ):
        assert parse_code_scan(value) is None, value


def test_an_https_public_address_accepts_its_default_port(settings):
    token = "ABCDEFGHIJKLMNOPQRSTUVWX"
    settings.PUBLIC_BASE_URL = "https://verify.example.cn"
    assert parse_code_scan(f"https://verify.example.cn/c/{token}").token == token
    assert parse_code_scan(f"https://verify.example.cn:443/c/{token}").token == token
    assert parse_code_scan(f"http://verify.example.cn/c/{token}") is None  # not the origin we print
    assert parse_code_scan(f"{BASE}/c/{token}") is None


def test_a_counterfeit_label_is_an_unknown_code_to_the_scanner(api, flow, clock):
    flow.coded(clock)
    scarf, coat = codes_of(flow.number)[4], codes_of(flow.number)[1]
    unknown = answer(api("operator-1").get("/api/scan/", {"value": f"{BASE}/c/{UNKNOWN_TOKEN}"}))
    assert unknown[0] == 404

    fakes = [*counterfeits(scarf.token), digital_link(coat, host="http://evil.example")]
    for value in fakes:
        assert answer(api("operator-1").get("/api/scan/", {"value": value})) == unknown, value
    # the genuine labels still resolve
    for value in (f"{BASE}/c/{scarf.token}", digital_link(coat)):
        assert api("operator-1").get("/api/scan/", {"value": value}).status_code == 200, value


def test_a_counterfeit_label_cannot_be_released(api, flow, clock):
    flow.coded(clock)
    scarf, coat = codes_of(flow.number)[4], codes_of(flow.number)[1]
    fakes = [f"http://evil.example/c/{scarf.token}", digital_link(coat, host="https://evil.example")]

    response = api("operator-1").post(
        f"/api/batches/{flow.number}/release/", {"codes": [codes_of(flow.number)[2].token, *fakes]}, format="json"
    )

    assert response.status_code == 400
    problems = response.json()["codes"]
    assert set(problems) == set(fakes)
    assert {problems[value] for value in fakes} == {"未知的追溯码。"}
    assert set(Code.objects.filter(batch__number=flow.number).values_list("status", flat=True)) == {"in_warehouse"}


def test_a_counterfeit_label_cannot_be_sold(flow, clock, sell):
    codes = flow.released(clock)
    scarf = codes[4]
    fake = f"http://evil.example/c/{scarf['token']}"
    fake_link = codes[0]["url"].replace(BASE, "http://evil.example")
    assert fake_link != codes[0]["url"] and "/01/" in fake_link

    refused = sell([fake, fake_link], expect=400)["codes"]

    assert refused == {fake: "未知的追溯码。", fake_link: "未知的追溯码。"}
    assert Sale.objects.count() == 0
    sell([scarf["url"], codes[0]["url"]])  # the genuine labels sell


# --- 2. random serials: no enumeration -------------------------------------------------------


def test_sequential_and_guessed_digital_links_never_resolve(flow, clock):
    flow.coded(clock)
    codes = codes_of(flow.number)
    coat = codes[1]
    public = Client()
    unknown = answer(public.get(f"/c/{UNKNOWN_TOKEN}"))
    assert unknown[0] == 404

    guesses = [digital_link(coat, host="", serial=str(n)) for n in range(0, 25)]  # the old sequential serials
    guesses += [digital_link(coat, host="", serial=f"{n:016d}") for n in range(1, 6)]
    guesses += [digital_link(coat, host="", serial="A" * 16), digital_link(coat, host="", serial="Z" * 20)]
    # A real serial with the wrong lot or the wrong GTIN: only the whole real triple resolves
    guesses += [
        digital_link(coat, host="", lot="MKT-A-20261129-0002"),
        digital_link(coat, host="", gtin="09506000134369"),
        digital_link(codes[4], host="", serial=coat.serial.lower()[:15]),
    ]
    for path in guesses:
        assert answer(public.get(path)) == unknown, path
    assert public.get(digital_link(coat, host="")).status_code == 200
    assert public.get(digital_link(coat, host="", serial=coat.serial.lower())).status_code == 200


def test_a_scanner_cannot_enumerate_serials_either(api, flow, clock):
    flow.coded(clock)
    coat = codes_of(flow.number)[1]
    unknown = answer(api("operator-1").get("/api/scan/", {"value": f"{BASE}/c/{UNKNOWN_TOKEN}"}))
    for n in range(1, 6):
        assert answer(api("operator-1").get("/api/scan/", {"value": digital_link(coat, serial=str(n))})) == unknown


# --- 3. exists but not yours = unknown ------------------------------------------------------


@pytest.fixture
def two_warehouses(new_flow, flow, clock):
    """merchant-a1's coats and scarves released in WH-1; merchant-c1's batch coded in WH-2."""
    flow.released(clock)
    other = new_flow(**MARKET_C)
    other.coded(clock)
    return flow, other


def test_scanning_a_code_outside_ones_reach_answers_like_an_unknown_one(api, two_warehouses):
    mine, theirs = two_warehouses
    foreign = codes_of(theirs.number)[4]
    for username in ("operator-1", "merchant-a2", "merchant-c1"):
        client = api(username)
        unknown = answer(client.get("/api/scan/", {"value": UNKNOWN_TOKEN}))
        assert unknown[0] == 404
        if username == "merchant-c1":
            foreign = codes_of(mine.number)[4]
        assert answer(client.get("/api/scan/", {"value": foreign.token})) == unknown, username
        assert answer(client.get(f"/api/scan/{foreign.token}/")) == answer(client.get(f"/api/scan/{UNKNOWN_TOKEN}/"))


def test_qr_images_and_trace_of_a_code_outside_ones_reach_answer_like_an_unknown_one(api, two_warehouses):
    mine, theirs = two_warehouses
    foreign = codes_of(theirs.number)[4]
    client = api("operator-1")
    for suffix in ("qr.svg", "qr.png"):
        assert answer(client.get(f"/api/codes/{foreign.token}/{suffix}")) == answer(
            client.get(f"/api/codes/{UNKNOWN_TOKEN}/{suffix}")
        )
        assert client.get(f"/api/codes/{codes_of(mine.number)[4].token}/{suffix}").status_code == 200
    merchant = api("merchant-a2")
    assert answer(merchant.get(f"/api/trace/codes/{codes_of(mine.number)[4].token}/")) == answer(
        merchant.get(f"/api/trace/codes/{UNKNOWN_TOKEN}/")
    )


def test_selling_another_merchants_code_answers_like_an_unknown_one(api, two_warehouses, sell):
    mine, _theirs = two_warehouses
    released = codes_of(mine.number)[4]  # released to merchant-a1, sellable by them only

    refused = sell([released.token, UNKNOWN_TOKEN], username="merchant-a2", expect=400)["codes"]

    assert refused[released.token] == refused[UNKNOWN_TOKEN] == "未知的追溯码。"
    by_url = sell([f"{BASE}/c/{released.token}"], username="merchant-c1", expect=400)["codes"]
    assert by_url == {f"{BASE}/c/{released.token}": "未知的追溯码。"}
    assert Sale.objects.count() == 0


def test_releasing_a_code_of_another_warehouse_answers_like_an_unknown_one(api, two_warehouses):
    mine, theirs = two_warehouses
    foreign = codes_of(theirs.number)[4]
    # operator-2 releases in its own batch a token of WH-1's batch: unknown, like a made-up token
    response = api("operator-2").post(
        f"/api/batches/{theirs.number}/release/",
        {"codes": [codes_of(mine.number)[4].token, UNKNOWN_TOKEN]},
        format="json",
    )
    assert response.status_code == 400
    problems = response.json()["codes"]
    assert problems[codes_of(mine.number)[4].token] == problems[UNKNOWN_TOKEN] == "未知的追溯码。"
    assert Code.objects.get(pk=foreign.pk).status == "in_warehouse"
