"""Benchmark: QR SVG/PNG rendering (ours vs segno) and the label PDF.

Run from the project root; no database, Django with empty settings:

    python bench/bench_qr_labels.py [--n 2000] [--labels 3000]

Every payload is distinct and the render memo is cleared before each timed
loop, so no image is ever served from the cache.
"""

from __future__ import annotations

import argparse
import base64
import gc
import io
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import segno
from django.conf import settings

from batches import labels as labels_mod
from batches import qr
from batches.labels import Label, write_label_pdf

# No project settings: the label code reads LABEL_CJK_FONT and falls back to the Debian font.
settings.configure()

BASE = "https://trace.example.cn"


def payloads(n: int, seed: int = 2026) -> list[str]:
    """Half plain code URLs (24-char base32 token), half GS1 Digital Links."""
    rnd = random.Random(seed)
    urls = []
    for i in range(n):
        if i % 2 == 0:
            token = base64.b32encode(rnd.randbytes(15)).decode()
            urls.append(f"{BASE}/c/{token}")
        else:
            gtin = f"0950600013{rnd.randrange(10000):04d}"
            urls.append(f"{BASE}/01/{gtin}/10/MKT-A-20261129-{rnd.randrange(10000):04d}/21/{i}")
    assert len(set(urls)) == n
    return urls


def per_image_us(fn, urls) -> float:
    qr.cache_clear()
    gc.collect()
    t = time.perf_counter()
    for u in urls:
        fn(u)
    return (time.perf_counter() - t) / len(urls) * 1e6


def segno_svg(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="svg", scale=4)
    return buf.getvalue()


def segno_png(url: str) -> bytes:
    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=4)
    return buf.getvalue()


def make_labels(n: int):
    rnd = random.Random(7)
    for i in range(1, n + 1):
        token = base64.b32encode(rnd.randbytes(15)).decode()
        yield Label(
            url=f"{BASE}/c/{token}",
            batch_number="MKT-A-20261129-0001",
            item_no=i,
            product_name="冷冻带鱼段（阿根廷红虾）",
            specification="10kg/箱 -18℃",
            warehouse="一号监管仓 WH-1",
            negative_test_date="2026-11-20",
        )


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="distinct QR payloads")
    ap.add_argument("--labels", type=int, default=3000, help="labels in the PDF")
    ap.add_argument(
        "--compare-eager",
        action="store_true",
        help="also measure peak memory with per-page eager compression turned off",
    )
    args = ap.parse_args()

    urls = payloads(args.n)
    # Warm up imports, the placement tables and segno's code paths.
    for u in urls[:20]:
        qr.render_svg(u), qr.render_png(u), segno_svg(u), segno_png(u)

    print(f"QR images: {args.n} distinct URLs, error correction M, 4 px/module, border 4")
    rows = [
        ("SVG", lambda u: qr.render_svg(u), segno_svg),
        ("PNG", lambda u: qr.render_png(u), segno_png),
        ("encode only", qr.qr_matrix, lambda u: segno.make(u, error="m")),
    ]
    print(f"{'':<12} {'ours µs/img':>12} {'segno µs/img':>13} {'ours/segno':>11}")
    for name, ours, theirs in rows:
        a = per_image_us(ours, urls)
        b = per_image_us(theirs, urls)
        print(f"{name:<12} {a:>12.0f} {b:>13.0f} {a / b:>11.2f}")
    matrices = [qr.qr_matrix(u) for u in urls]
    for name, fn in (("SVG", qr.svg_from_matrix), ("PNG", qr.png_from_matrix)):
        t = time.perf_counter()
        for m in matrices:
            fn(m)
        us = (time.perf_counter() - t) / len(matrices) * 1e6
        print(f"  ours, {name} drawing alone (matrix given): {us:.0f} µs/img")
    svg, png = qr.render_svg(urls[0]), qr.render_png(urls[0])
    print(
        f"  sizes for one URL: ours SVG {len(svg)} B, PNG {len(png)} B;"
        f" segno SVG {len(segno_svg(urls[0]))} B, PNG {len(segno_png(urls[0]))} B"
    )

    print()
    print(f"Label PDF: {args.labels} labels, {labels_mod.LABELS_PER_PAGE} per A4 page")
    labels_mod._font()  # font loading is a one-off per process, keep it out
    rss0 = maxrss_mb()
    out = io.BytesIO()
    pages = []
    gc.collect()
    t = time.perf_counter()
    n = write_label_pdf(make_labels(args.labels), out, progress=pages.append)
    secs = time.perf_counter() - t
    size = len(out.getvalue())
    print(f"  {n} labels, {len(pages)} pages: {secs:.2f} s ({secs / n * 1e3:.2f} ms/label), PDF {size / 1e6:.2f} MB")
    print(f"  ru_maxrss: {rss0:.0f} MB before, {maxrss_mb():.0f} MB after (process peak)")

    del out
    gc.collect()
    tracemalloc.start()
    out = io.BytesIO()
    write_label_pdf(make_labels(args.labels), out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  tracemalloc peak: {peak / 1e6:.1f} MB (output buffer of {len(out.getvalue()) / 1e6:.2f} MB included)")

    if not args.compare_eager:
        return
    # The same without deflating each page as soon as it is finished.
    del out
    gc.collect()
    saved = labels_mod._compress_last_page
    labels_mod._compress_last_page = lambda c: None
    try:
        tracemalloc.start()
        out = io.BytesIO()
        write_label_pdf(make_labels(args.labels), out)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        labels_mod._compress_last_page = saved
    print(f"  tracemalloc peak without eager page compression: {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
