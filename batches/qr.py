"""QR code encoding and fast rendering (SVG and PNG).

Pure and model independent: everything here works on plain strings.

* :func:`qr_matrix` encodes text with the ``qrcode`` package (error
  correction level M) and returns the bare module matrix, without quiet zone.
  ``qrcode`` does the segmenting, Reed-Solomon coding, function patterns,
  format/version information and mask scoring; only the placement of the
  codeword bits (``map_data``, its slowest pure-Python loop, run once per mask
  candidate) is replaced by a per-version table and one integer XOR; with
  the ninth symbol build skipped too, encoding takes about 3.5-4 ms instead
  of about 5 ms (see ``bench/bench_qr_labels.py``).
* :func:`render_svg` and :func:`render_png` draw that matrix by hand: the SVG
  is a single ``<path>`` of run-length merged horizontal segments, the PNG is a
  1-bit greyscale image whose rows are packed and deflated directly with
  :mod:`zlib` (no Pillow, no qrcode image factories).

Both renderers are memoised on ``(text, box, border)``; call
:func:`cache_clear` to drop the memo (tests, benchmarks).
"""

from __future__ import annotations

import re
import struct
import zlib
from functools import lru_cache

import qrcode
from qrcode import util
from qrcode.constants import ERROR_CORRECT_M

__all__ = ["cache_clear", "dark_runs", "qr_matrix", "render_png", "render_svg"]

CACHE_SIZE = 1024

# A run of dark modules in ``bytes(row)`` (a row of bools becomes 0/1 bytes).
_DARK_RUN = re.compile(rb"\x01+")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# version -> (cells, mask integers): the data cells of a symbol of that version
# in qrcode's placement order, and for each of the 8 masks an integer whose
# bits (most significant first, one per cell) say whether the mask flips it.
_PLACEMENT: dict[int, tuple[list[tuple[int, int]], list[int]]] = {}


def _placement(version: int, modules: list[list]) -> tuple[list[tuple[int, int]], list[int]]:
    table = _PLACEMENT.get(version)
    if table is None:
        # Walk the symbol exactly like qrcode.QRCode.map_data does and record
        # the free cells (function patterns and format info are already set).
        n = len(modules)
        cells = []
        inc = -1
        row = n - 1
        for col in range(n - 1, 0, -2):
            if col <= 6:
                col -= 1
            while True:
                for c in (col, col - 1):
                    if modules[row][c] is None:
                        cells.append((row, c))
                row += inc
                if row < 0 or row >= n:
                    row -= inc
                    inc = -inc
                    break
        masks = []
        for pattern in range(8):
            flips = util.mask_func(pattern)
            masks.append(int("".join("1" if flips(r, c) else "0" for r, c in cells), 2))
        table = _PLACEMENT[version] = (cells, masks)
    return table


class _FastQRCode(qrcode.QRCode):
    """``qrcode.QRCode`` with a table-driven ``map_data``.

    ``make`` also scores each mask on the finished symbol (format information
    included, as ISO/IEC 18004 describes) and keeps the best one instead of
    building it a ninth time. Any mask gives a valid symbol; the choice can
    differ from stock qrcode's for some inputs.
    """

    def map_data(self, data, mask_pattern):
        modules = self.modules
        cells, masks = _placement(self.version, modules)
        ncells = len(cells)
        # Codeword bits, most significant first; remainder bits are 0.
        value = int.from_bytes(bytes(data), "big") << (ncells - 8 * len(data))
        bits = format(value ^ masks[mask_pattern], f"0{ncells}b")
        for (r, c), bit in zip(cells, bits, strict=True):
            modules[r][c] = bit == "1"

    def make(self, fit=True):
        if fit or self.version is None:
            self.best_fit(start=self.version)
        if self.mask_pattern is not None:
            self.makeImpl(False, self.mask_pattern)
            return
        best_modules, best_score = None, None
        for pattern in range(8):
            self.makeImpl(False, pattern)  # builds a fresh self.modules
            score = util.lost_point(self.modules)
            if best_score is None or score < best_score:
                best_modules, best_score = self.modules, score
        self.modules = best_modules


def qr_matrix(text: str) -> list[list[bool]]:
    """Encode ``text`` as a QR code (error correction M, smallest version).

    Returns the module matrix as rows of booleans (``True`` = dark), with no
    quiet zone: renderers add the border themselves.
    """
    code = _FastQRCode(error_correction=ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    return code.modules


def dark_runs(matrix: list[list[bool]]):
    """Yield ``(x, y, width)`` for every horizontal run of dark modules."""
    finditer = _DARK_RUN.finditer
    for y, row in enumerate(matrix):
        for m in finditer(bytes(row)):
            start, end = m.span()
            yield start, y, end - start


def _check(box: int, border: int) -> None:
    if not isinstance(box, int) or box < 1:
        raise ValueError("box must be a positive integer")
    if not isinstance(border, int) or border < 0:
        raise ValueError("border must be a non-negative integer")


def svg_from_matrix(matrix: list[list[bool]], *, box: int = 4, border: int = 4) -> str:
    """Standalone SVG document for a module matrix.

    The viewBox is in module units (one unit = one module), so the path stays
    short; ``width``/``height`` scale it to ``box`` pixels per module.
    """
    _check(box, border)
    units = len(matrix) + 2 * border
    px = units * box
    segments = []
    append = segments.append
    finditer = _DARK_RUN.finditer
    for y, row in enumerate(matrix, border):
        for m in finditer(bytes(row)):
            start, end = m.span()
            w = end - start
            append(f"M{start + border} {y}h{w}v1h-{w}z")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" '
        f'viewBox="0 0 {units} {units}" shape-rendering="crispEdges">'
        f'<rect width="{units}" height="{units}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(segments)}"/>'
        "</svg>\n"
    )


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)) & 0xFFFFFFFF)


def png_from_matrix(matrix: list[list[bool]], *, box: int = 4, border: int = 4) -> bytes:
    """1-bit greyscale PNG for a module matrix, ``box`` pixels per module."""
    _check(box, border)
    n = len(matrix)
    size = (n + 2 * border) * box
    pad = -size % 8  # bits that fill up the last byte of a scanline
    row_len = (size + pad) // 8
    dark = "0" * box  # greyscale 1 bit: 0 = black
    light = "1" * box
    edge = light * border
    tail = edge + "1" * pad
    # Each scanline is preceded by its filter byte (0 = None).
    quiet = (b"\x00" + b"\xff" * row_len) * (border * box)
    lines = [quiet]
    append = lines.append
    for row in matrix:
        bits = edge + "".join([dark if v else light for v in row]) + tail
        append((b"\x00" + int(bits, 2).to_bytes(row_len, "big")) * box)
    append(quiet)
    raw = b"".join(lines)
    ihdr = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", ihdr),
            _png_chunk(b"IDAT", zlib.compress(raw, 9)),
            _png_chunk(b"IEND", b""),
        )
    )


@lru_cache(maxsize=CACHE_SIZE)
def render_svg(text: str, *, box: int = 4, border: int = 4) -> str:
    """QR code for ``text`` as a standalone SVG document (memoised)."""
    _check(box, border)
    return svg_from_matrix(qr_matrix(text), box=box, border=border)


@lru_cache(maxsize=CACHE_SIZE)
def render_png(text: str, *, box: int = 4, border: int = 4) -> bytes:
    """QR code for ``text`` as PNG bytes (memoised)."""
    _check(box, border)
    return png_from_matrix(qr_matrix(text), box=box, border=border)


def cache_clear() -> None:
    """Forget every memoised rendering."""
    render_svg.cache_clear()
    render_png.cache_clear()
