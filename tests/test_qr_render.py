"""QR rendering (SVG, PNG) and label PDF: scannable output, no database."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from reportlab.pdfbase import pdfmetrics

from batches import labels as labels_mod
from batches import qr
from batches.labels import Label, write_label_pdf

PLAIN_URL = "https://trace.example.cn/c/ABCDEFGHIJKLMNOPQRSTUVWX"
GS1_URL = "https://trace.example.cn/01/09506000134352/10/MKT-A-20261129-0001/21/17"
URLS = [PLAIN_URL, GS1_URL]

SVG_RUN = re.compile(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z")


def decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]


def svg_to_image(svg: str) -> Image.Image:
    """Rasterise our own SVG: white canvas, one black box per path segment."""
    root = ET.fromstring(svg.split("\n", 1)[1])  # skip the XML declaration
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    x0, y0, units, units_h = (int(v) for v in root.get("viewBox").split())
    assert (x0, y0) == (0, 0) and units == units_h
    width = int(root.get("width"))
    assert width == int(root.get("height"))
    box = width // units
    assert box * units == width
    d = root.find(f"{ns}path").get("d")
    runs = SVG_RUN.findall(d)
    assert runs and "".join(f"M{x} {y}h{w}v1h-{w2}z" for x, y, w, w2 in runs) == d
    img = Image.new("L", (units, units), 255)
    for x, y, w, w2 in runs:
        assert w == w2
        x, y, w = int(x), int(y), int(w)
        img.paste(0, (x, y, x + w, y + 1))
    return img.resize((width, width), Image.NEAREST)


@pytest.fixture(autouse=True)
def _fresh_cache():
    qr.cache_clear()
    yield
    qr.cache_clear()


# --- QR images -----------------------------------------------------------------


@pytest.mark.parametrize("url", URLS)
def test_png_decodes_to_url(url):
    png = qr.render_png(url)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    img = Image.open(io.BytesIO(png))
    img.load()
    assert img.mode == "1"
    n = len(qr.qr_matrix(url))
    assert img.size == ((n + 8) * 4, (n + 8) * 4)
    assert decode(img) == [url]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("box,border", [(4, 4), (3, 2), (1, 4)])
def test_png_sizes(url, box, border):
    img = Image.open(io.BytesIO(qr.render_png(url, box=box, border=border)))
    n = len(qr.qr_matrix(url))
    assert img.size == ((n + 2 * border) * box,) * 2
    # Pixel-exact: every module is a box x box square of the right colour.
    matrix = qr.qr_matrix(url)
    px = img.convert("L").load()
    for y in range(n):
        for x in range(n):
            expected = 0 if matrix[y][x] else 255
            cx, cy = (x + border) * box, (y + border) * box
            assert px[cx, cy] == expected and px[cx + box - 1, cy + box - 1] == expected
    if border:
        assert px[0, 0] == 255 and px[img.width - 1, img.height - 1] == 255


@pytest.mark.parametrize("url", URLS)
def test_svg_decodes_to_url(url):
    svg = qr.render_svg(url)
    assert svg.startswith("<?xml")
    assert 'shape-rendering="crispEdges"' in svg
    assert 'fill="#fff"' in svg  # white background
    assert svg.count("<path") == 1
    n = len(qr.qr_matrix(url))
    units = n + 8
    assert f'viewBox="0 0 {units} {units}"' in svg
    assert f'width="{units * 4}" height="{units * 4}"' in svg
    assert decode(svg_to_image(svg)) == [url]


def test_svg_path_matches_matrix():
    matrix = qr.qr_matrix(PLAIN_URL)
    img = svg_to_image(qr.render_svg(PLAIN_URL, box=1, border=0))
    px = img.load()
    n = len(matrix)
    assert img.size == (n, n)
    assert all((px[x, y] == 0) == matrix[y][x] for y in range(n) for x in range(n))


def test_matrix_is_plain_bools_without_border():
    m = qr.qr_matrix(PLAIN_URL)
    n = len(m)
    assert n >= 21 and (n - 17) % 4 == 0
    assert all(len(row) == n and all(type(v) is bool for v in row) for row in m)
    # Finder pattern in the top-left corner, no quiet zone.
    assert m[0][:7] == [True] * 7 and m[1][:7] == [True] + [False] * 5 + [True]


@pytest.mark.parametrize(
    "text",
    [PLAIN_URL, GS1_URL, "A", "https://trace.example.cn/c/" + "Z" * 200, "批次" * 60, "x" * 700],
)
def test_fast_encoder_matches_stock_qrcode(text):
    """The table-driven data placement gives qrcode's exact symbol per mask."""
    for mask in range(8):
        stock = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=mask)
        stock.add_data(text)
        stock.make(fit=True)
        fast = qr._FastQRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=mask)
        fast.add_data(text)
        fast.make(fit=True)
        assert fast.version == stock.version
        assert fast.modules == stock.get_matrix()


def test_long_payload_with_version_info_decodes():
    text = "https://trace.example.cn/c/" + "abcdefghij" * 20  # version >= 7
    assert len(qr.qr_matrix(text)) >= 45
    assert decode(Image.open(io.BytesIO(qr.render_png(text)))) == [text]
    assert decode(svg_to_image(qr.render_svg(text))) == [text]


def test_rendering_is_memoised():
    a = qr.render_svg(PLAIN_URL)
    assert qr.render_svg(PLAIN_URL) is a
    assert qr.render_png(PLAIN_URL) is qr.render_png(PLAIN_URL)
    qr.cache_clear()
    assert qr.render_svg.cache_info().currsize == 0


def test_bad_sizes_rejected():
    with pytest.raises(ValueError):
        qr.render_png(PLAIN_URL, box=0)
    with pytest.raises(ValueError):
        qr.render_svg(PLAIN_URL, border=-1)


# --- label PDF -----------------------------------------------------------------


def make_labels(n: int, pulled: list[int] | None = None):
    for i in range(1, n + 1):
        if pulled is not None:
            pulled.append(i)
        yield Label(
            url=f"https://trace.example.cn/c/TOKEN{i:019d}" if i > 1 else GS1_URL,
            batch_number="MKT-A-20261129-0001",
            item_no=i,
            product_name="冷冻带鱼段（阿根廷红虾）" * (1 + i % 3),
            specification="10kg/箱 -18℃",
            warehouse="一号监管仓 WH-1",
            negative_test_date="2026-11-20",
        )


PAGE_OBJ = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


def test_label_pdf_pages_font_progress_and_laziness():
    pulled: list[int] = []
    calls: list[tuple[int, int]] = []
    out = io.BytesIO()
    n = write_label_pdf(make_labels(30, pulled), out, progress=lambda done: calls.append((done, len(pulled))))
    pdf = out.getvalue()
    assert n == 30
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(PAGE_OBJ.findall(pdf)) == 2
    assert b"/FontFile2" in pdf  # the TrueType font program is embedded
    assert [done for done, _ in calls] == [24, 30]
    # Lazy: when page 1 was finished, no more than its 24 labels had been read.
    assert calls[0][1] <= 24


def test_label_pdf_total_caps_reading():
    pulled: list[int] = []
    out = io.BytesIO()
    assert write_label_pdf(make_labels(100, pulled), out, total=5) == 5
    assert len(pulled) == 5
    assert len(PAGE_OBJ.findall(out.getvalue())) == 1


def test_label_pdf_empty():
    out = io.BytesIO()
    assert write_label_pdf(iter(()), out) == 0
    assert len(PAGE_OBJ.findall(out.getvalue())) == 1


def test_long_values_are_cut_to_fit():
    width = labels_mod.TEXT_W - labels_mod._caption_width()
    text, size = labels_mod._fit("冷冻带鱼段（阿根廷红虾）" * 5, width, True)
    assert text.endswith(labels_mod.ELLIPSIS)
    assert pdfmetrics.stringWidth(text, labels_mod._font(), size) <= width
    # Identifiers shrink but are never cut.
    text, size = labels_mod._fit("MKT-A-20261129-0001", width, False)
    assert text == "MKT-A-20261129-0001" and size >= labels_mod.VALUE_MIN_SIZE
    # A glyph the font cannot draw becomes its compatibility form.
    assert labels_mod._fit("-18℃", width, True)[0] == "-18°C"


def test_missing_font_names_the_package(monkeypatch, settings):
    settings.LABEL_CJK_FONT = ""
    monkeypatch.setattr(labels_mod, "CJK_FONT_PATHS", ("/nonexistent/font.ttc",))
    with pytest.raises(labels_mod.FontNotFound, match="fonts-wqy-microhei"):
        labels_mod.cjk_font_path()


def test_label_pdf_qr_scans_after_rasterising(tmp_path):
    # `make test` installs poppler-utils; without pdftoppm this fails rather than passing silently.
    assert shutil.which("pdftoppm"), "pdftoppm missing: install poppler-utils (make system-test)"
    labels = list(make_labels(30))
    pdf = tmp_path / "labels.pdf"
    with pdf.open("wb") as f:
        write_label_pdf(iter(labels), f)
    subprocess.run(
        ["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    (png,) = tmp_path.glob("page*.png")
    page = Image.open(png)
    # The first label, cropped from the top-left cell of the sheet.
    scale = 150 / 72
    x0 = int(labels_mod.MARGIN_X * scale)
    y0 = int(labels_mod.MARGIN_Y * scale)
    cell = page.crop((x0, y0, x0 + int(labels_mod.LABEL_W * scale), y0 + int(labels_mod.LABEL_H * scale)))
    assert decode(cell) == [labels[0].url]
    # And on the whole page every decoded QR is one of page 1's labels.
    found = set(decode(page))
    assert labels[0].url in found
    assert found <= {label.url for label in labels[:24]}
    assert len(found) >= 20
