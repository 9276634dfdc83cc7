"""QR images of codes (SPEC §4 `GET /api/codes/{token}/qr.svg|png`).

Given a coded batch of merchant-a1 in WH-1 — three coats with a GTIN (items 1–3) and two
scarves without (items 4–5) — the QR of each code is decoded and must read the code's URL.
"""

import io
import re

import pytest
import zxingcpp
from django.conf import settings
from PIL import Image, ImageDraw

from batches.models import Code

GTIN = "09506000134352"


def decode(image: Image.Image) -> str:
    found = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"expected one QR code, found {len(found)}"
    return found[0].text


def decode_png(data: bytes) -> str:
    return decode(Image.open(io.BytesIO(data)))


def decode_svg(svg: str) -> str:
    """Rasterise our SVG (a viewBox in module units, one path of `M x y h w v1 h-w z` runs)."""
    units = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg)[1])
    scale = 8
    image = Image.new("L", (units * scale, units * scale), 255)
    draw = ImageDraw.Draw(image)
    path = re.search(r'<path[^>]* d="([^"]+)"', svg)[1]
    for x, y, w in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path):
        x, y, w = int(x), int(y), int(w)
        draw.rectangle([x * scale, y * scale, (x + w) * scale - 1, (y + 1) * scale - 1], fill=0)
    return decode(image)


@pytest.fixture
def coded(flow, clock):
    flow.coded(clock)
    codes = {code.item_no: code for code in Code.objects.filter(batch__number=flow.number)}
    return flow.number, codes


def test_the_qr_of_a_code_without_gtin_reads_its_public_url(api, coded):
    _number, codes = coded
    scarf = codes[4]

    response = api("operator-1").get(f"/api/codes/{scarf.token}/qr.png")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert decode_png(response.content) == f"{settings.PUBLIC_BASE_URL}/c/{scarf.token}"


def test_the_qr_of_a_code_with_gtin_reads_a_gs1_digital_link(api, coded):
    number, codes = coded
    coat = codes[2]

    response = api("operator-1").get(f"/api/codes/{coat.token}/qr.png")

    assert decode_png(response.content) == f"{settings.PUBLIC_BASE_URL}/01/{GTIN}/10/{number}/21/{coat.serial}"


def test_the_svg_draws_the_same_url(api, coded):
    number, codes = coded

    coat = api("operator-1").get(f"/api/codes/{codes[1].token}/qr.svg")
    scarf = api("operator-1").get(f"/api/codes/{codes[5].token}/qr.svg")

    assert coat["Content-Type"] == "image/svg+xml"
    assert decode_svg(coat.content.decode()) == f"{settings.PUBLIC_BASE_URL}/01/{GTIN}/10/{number}/21/{codes[1].serial}"
    assert decode_svg(scarf.content.decode()) == f"{settings.PUBLIC_BASE_URL}/c/{codes[5].token}"


def test_the_qr_follows_public_base_url(api, coded, settings):
    settings.PUBLIC_BASE_URL = "https://verify.example.cn"
    _number, codes = coded

    response = api("merchant-a1").get(f"/api/codes/{codes[4].token}/qr.png")

    assert decode_png(response.content) == f"https://verify.example.cn/c/{codes[4].token}"


def test_the_qr_url_is_the_url_the_codes_list_shows(api, coded):
    number, _codes = coded
    listed = api("operator-1").get(f"/api/batches/{number}/codes/").json()["results"]

    for item in listed:
        png = api("operator-1").get(f"/api/codes/{item['token']}/qr.png").content
        assert decode_png(png) == item["url"]


@pytest.mark.parametrize(
    "username, expected",
    [
        ("operator-1", 200),  # the batch's warehouse
        ("merchant-a1", 200),  # own batch
        ("reviewer-a", 200),  # the batch's market
        ("regulator", 200),  # the district
        ("operator-2", 404),  # another warehouse
        ("merchant-a2", 404),  # another merchant of the same market
        ("reviewer-b", 404),  # another market
        (None, 401),
    ],
)
def test_qr_images_are_scoped_like_the_batch(api, coded, username, expected):
    _number, codes = coded

    for image in ("qr.png", "qr.svg"):
        assert api(username).get(f"/api/codes/{codes[1].token}/{image}").status_code == expected


def test_an_unknown_token_is_not_found_and_errors_stay_json(api, coded):
    response = api("operator-1").get("/api/codes/AAAAAAAAAAAAAAAAAAAAAAAA/qr.png", HTTP_ACCEPT="image/png")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_an_image_tag_asking_for_images_gets_the_image(api, coded):
    _number, codes = coded

    response = api("operator-1").get(f"/api/codes/{codes[1].token}/qr.png", HTTP_ACCEPT="image/avif,image/*")

    assert response.status_code == 200 and response["Content-Type"] == "image/png"


def test_a_gtin_with_a_wrong_check_digit_is_refused_at_declaration(api):
    from tests.conftest import declaration

    body = declaration()
    body["lines"][0]["gtin"] = "09506000134353"

    response = api("merchant-a1").post("/api/batches/", body, format="json")

    assert response.status_code == 400
    assert "gtin" in response.json()["lines"][0]
