"""Printable QR label sheets (PDF), one label per code.

Pure and model independent: the caller turns its rows into :class:`Label`
objects (lazily, e.g. a generator over ``queryset.iterator()``) and passes an
output stream. Sheets are A4 with 3 columns x 8 rows of 70 x 37 mm labels.

Each label carries the QR code, drawn as vector rectangles straight into the
page (one rectangle per horizontal run of dark modules, no raster image), and
the batch number, item number within the batch, product name, specification, warehouse and
negative test date with small Chinese captions. Text uses an embedded CJK
TrueType font, see :func:`cjk_font_path`; where there is none, reportlab's
built-in CID font STSong-Light, which PDF readers supply themselves.
"""

from __future__ import annotations

import logging
import os
import unicodedata
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas

from .qr import dark_runs, qr_matrix

__all__ = ["LABELS_PER_PAGE", "FontNotFound", "Label", "cjk_font_path", "write_label_pdf"]


@dataclass(frozen=True)
class Label:
    url: str  # what the QR encodes
    batch_number: str
    item_no: int  # the item's number within the batch
    product_name: str
    specification: str
    warehouse: str
    negative_test_date: str


# --- font ------------------------------------------------------------------

logger = logging.getLogger(__name__)

#: Django setting (env LABEL_CJK_FONT) that may name a TrueType font file
#: (.ttf / .ttc, TrueType outlines, first face used) instead of the known paths.
FONT_SETTING = "LABEL_CJK_FONT"

#: Debian package that provides the default font.
FONT_PACKAGE = "fonts-wqy-microhei"

#: Known locations of a CJK font with TrueType outlines (reportlab cannot
#: embed CFF/OpenType-PostScript fonts such as Noto CJK).
CJK_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian/Ubuntu fonts-wqy-microhei
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",  # Fedora wqy-microhei-fonts
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian/Ubuntu fonts-wqy-zenhei
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",  # Fedora wqy-zenhei-fonts
)

FONT_NAME = "LabelCJK"

#: Without a TrueType font: Adobe's simplified-Chinese CID font. Nothing is
#: embedded; PDF readers and printers bring the glyphs (Adobe's Asian font
#: pack, or a substitute through fontconfig on Linux).
FALLBACK_FONT = "STSong-Light"


class FontNotFound(RuntimeError):
    pass


def _configured_font() -> str:
    from django.conf import settings

    return getattr(settings, FONT_SETTING, "") or ""


def cjk_font_path(configured: str | None = None) -> str:
    """Path of the CJK TrueType font to embed in label PDFs.

    The ``LABEL_CJK_FONT`` setting if set, else the first of
    :data:`CJK_FONT_PATHS` that exists. Raises :class:`FontNotFound` naming
    the package to install.
    """
    override = _configured_font() if configured is None else configured
    if override:
        if os.path.isfile(override):
            return override
        raise FontNotFound(f"{FONT_SETTING}={override!r} is not a file.")
    for path in CJK_FONT_PATHS:
        if os.path.isfile(path):
            return path
    raise FontNotFound(
        "No CJK TrueType font found for the label PDF (looked in "
        + ", ".join(CJK_FONT_PATHS)
        + f"). Install the Debian package {FONT_PACKAGE} "
        f"(apt-get install {FONT_PACKAGE}) or set {FONT_SETTING} to a .ttf/.ttc file."
    )


def _font() -> str:
    """Name of the registered label font (see :func:`_font_for`)."""
    return _font_for(_configured_font())


@lru_cache(maxsize=8)
def _font_for(configured: str) -> str:
    """Register the label font once per configuration; return its name.

    A missing TrueType font must not cost the crew their labels (a 500 in
    the middle of coding), so it falls back to :data:`FALLBACK_FONT` and
    says so in the log, once per process.
    """
    try:
        path = cjk_font_path(configured)
    except FontNotFound as missing:
        logger.warning("%s Label PDFs use the built-in CID font %s instead (not embedded).", missing, FALLBACK_FONT)
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
        return FALLBACK_FONT
    name = f"{FONT_NAME}-{zlib.crc32(path.encode()):08x}"
    kwargs = {"subfontIndex": 0} if path.lower().endswith(".ttc") else {}
    pdfmetrics.registerFont(TTFont(name, path, **kwargs))
    return name


# --- layout (points) ---------------------------------------------------------

PAGE_W, PAGE_H = A4
COLS, ROWS = 3, 8
LABELS_PER_PAGE = COLS * ROWS
LABEL_W = 70 * mm
LABEL_H = 37 * mm
MARGIN_X = (PAGE_W - COLS * LABEL_W) / 2
MARGIN_Y = (PAGE_H - ROWS * LABEL_H) / 2

PAD = 2.5 * mm  # inside each label
QR_SIDE = 28 * mm  # the QR square, its quiet zone included
QR_QUIET = 2  # modules of quiet zone inside QR_SIDE (PAD adds more)
GAP = 1 * mm  # between QR square and text

TEXT_X = PAD + QR_SIDE + GAP
TEXT_W = LABEL_W - TEXT_X - PAD
CAPTION_SIZE = 5.5
CAPTION_GRAY = 0.35
VALUE_SIZE = 7.0
VALUE_MIN_SIZE = 5.5  # values shrink down to this before being cut
ELLIPSIS = "\u2026"

# (caption, Label attribute); top to bottom.
FIELDS = (
    ("批次", "batch_number"),
    ("序号", "item_no"),
    ("品名", "product_name"),
    ("规格", "specification"),
    ("监管仓", "warehouse"),
    ("核酸阴性", "negative_test_date"),
)
# Identifiers must stay whole: shrink them rather than cut them.
_NO_CUT = {"batch_number", "item_no", "negative_test_date"}

LINE_PITCH = (LABEL_H - 2 * PAD) / len(FIELDS)


@lru_cache(maxsize=4096)
def _printable_char(ch: str, font: str) -> str:
    """``ch`` if the font can draw it, else a stand-in.

    Some code points are mapped but have an empty outline (WenQuanYi Micro Hei
    has no ``℃``, for one): those and unmapped ones are replaced by their
    compatibility form (``℃`` -> ``°C``, ``㎏`` -> ``kg``) when the font has
    that, else by ``?``.
    """
    face = pdfmetrics.getFont(font).face
    glyphs = getattr(face, "charToGlyph", None)
    if glyphs is None:  # the CID fallback: its encoding maps what the reader can draw
        return ch
    pos = getattr(face, "glyphPos", None)

    def drawable(c: str) -> bool:
        if c.isspace():
            return True
        g = glyphs.get(ord(c))
        if g is None:
            return False
        return pos is None or g + 1 >= len(pos) or pos[g + 1] > pos[g]

    if drawable(ch):
        return ch
    alt = unicodedata.normalize("NFKC", ch)
    if alt != ch and all(drawable(c) for c in alt):
        return alt
    return "?"


def _printable(text: str, font: str) -> str:
    return "".join([_printable_char(ch, font) for ch in text])


def _caption_width() -> float:
    return _caption_width_for(_font())


@lru_cache(maxsize=8)
def _caption_width_for(font: str) -> float:
    return max(pdfmetrics.stringWidth(c, font, CAPTION_SIZE) for c, _ in FIELDS) + 1.5 * mm


def _fit(text: str, max_width: float, cut: bool) -> tuple[str, float]:
    """Text and font size so that it fits ``max_width``.

    Shrinks from VALUE_SIZE down to VALUE_MIN_SIZE; if it still does not fit,
    cuts the end off and adds an ellipsis (unless ``cut`` is false).
    """
    return _fit_in(_font(), text, max_width, cut)


@lru_cache(maxsize=4096)
def _fit_in(font: str, text: str, max_width: float, cut: bool) -> tuple[str, float]:
    text = _printable(text, font)
    width = pdfmetrics.stringWidth(text, font, VALUE_SIZE)
    if width <= max_width:
        return text, VALUE_SIZE
    size = max(VALUE_MIN_SIZE, VALUE_SIZE * max_width / width)
    size = int(size * 10) / 10  # round down to 0.1 pt
    if pdfmetrics.stringWidth(text, font, size) <= max_width or not cut:
        return text, size
    size = VALUE_MIN_SIZE
    room = max_width - pdfmetrics.stringWidth(ELLIPSIS, font, size)
    lo, hi = 0, len(text)  # longest prefix that fits: binary search
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if pdfmetrics.stringWidth(text[:mid], font, size) <= room:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ELLIPSIS, size


def _qr_ops(url: str, x: float, y: float) -> str:
    """PDF operators that fill the QR for ``url`` in the square at (x, y).

    Drawn in module units through a flipped ``cm`` (row 0 at the top), one
    ``re`` per horizontal run of dark modules, and a single fill.
    """
    matrix = qr_matrix(url)
    units = len(matrix) + 2 * QR_QUIET
    m = QR_SIDE / units
    ox = x + QR_QUIET * m
    oy = y + QR_SIDE - QR_QUIET * m
    parts = [f"q 0 g {m:.5f} 0 0 {-m:.5f} {ox:.3f} {oy:.3f} cm"]
    parts.extend([f"{rx} {ry} {w} 1 re" for rx, ry, w in dark_runs(matrix)])
    parts.append("f Q")
    return "\n".join(parts)


def _draw_label(c: rl_canvas.Canvas, label: Label, x: float, y: float) -> None:
    c.addLiteral(_qr_ops(label.url, x + PAD, y + (LABEL_H - QR_SIDE) / 2))
    font = _font()
    cap_w = _caption_width()
    value_w = TEXT_W - cap_w
    tx = x + TEXT_X
    top = y + LABEL_H - PAD
    for i, (caption, attr) in enumerate(FIELDS):
        mid = top - LINE_PITCH * (i + 0.5)
        c.setFillGray(CAPTION_GRAY)
        c.setFont(font, CAPTION_SIZE)
        c.drawString(tx, mid - CAPTION_SIZE * 0.35, caption)
        value = getattr(label, attr)
        text, size = _fit("" if value is None else str(value), value_w, attr not in _NO_CUT)
        c.setFillGray(0)
        c.setFont(font, size)
        c.drawString(tx + cap_w, mid - size * 0.35, text)


def _compress_last_page(c: rl_canvas.Canvas) -> None:
    """Deflate the page just finished now instead of at ``save()``.

    reportlab keeps every page's content stream as text until the document is
    written; compressing it right away keeps memory proportional to the
    compressed size for long label runs. Falls back silently (the page is
    then compressed at save time) if reportlab's internals differ.
    """
    try:
        from reportlab.pdfbase import pdfdoc

        page = c._doc.Pages.pages[-1]
        stream = page.stream
        if not isinstance(stream, str) or page.Contents:
            return
        s = pdfdoc.PDFStream(
            dictionary=pdfdoc.PDFDictionary({"Filter": pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])}),
            content=zlib.compress(stream.encode("utf8")),
        )
        s.__Comment__ = "page stream"
        page.Contents = s
        page.stream = None
    except (AttributeError, IndexError, TypeError):  # pragma: no cover
        return


def write_label_pdf(
    labels: Iterable[Label],
    out: BinaryIO,
    *,
    total: int | None = None,
    progress: Callable[[int], None] | None = None,
    guides: bool = False,
) -> int:
    """Write a label sheet PDF for ``labels`` to the binary stream ``out``.

    ``labels`` is consumed lazily, one page (24 labels) at a time, so it may be
    a generator over a large query. ``total``, if given, is the number of
    labels expected: no more than that many are read. ``progress(n_done)`` is
    called after every page with the number of labels written so far.
    ``guides`` draws light cut lines around each label (for plain paper).

    Returns the number of labels written.
    """
    font = _font()
    c = rl_canvas.Canvas(out, pagesize=A4, pageCompression=1)
    c.setTitle("Labels")
    c.setCreator("batches.labels")
    it = iter(labels) if total is None else islice(labels, max(0, total))
    done = 0
    while True:
        page = list(islice(it, LABELS_PER_PAGE))
        if not page:
            break
        if guides:
            c.setStrokeGray(0.8)
            c.setLineWidth(0.25)
        for k, label in enumerate(page):
            row, col = divmod(k, COLS)
            x = MARGIN_X + col * LABEL_W
            y = PAGE_H - MARGIN_Y - (row + 1) * LABEL_H
            if guides:
                c.rect(x, y, LABEL_W, LABEL_H, stroke=1, fill=0)
            _draw_label(c, label, x, y)
        c.showPage()
        _compress_last_page(c)
        done += len(page)
        if progress is not None:
            progress(done)
        if len(page) < LABELS_PER_PAGE:
            break
    if done == 0:
        c.setFont(font, 10)
        c.drawString(MARGIN_X + PAD, PAGE_H - MARGIN_Y - 10 * mm, "无标签 (no labels)")
        c.showPage()
    c.save()
    return done
