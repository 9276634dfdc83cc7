"""Benchmark: what one evidence photo costs a web worker, in memory and time.

Run from the project root; no database or server needed:

    python bench/bench_upload.py

For each picture a fresh Python process (the web worker's stand-in, with Django and the
settings loaded as gunicorn's worker has them) reads the uploaded bytes and runs what an upload
runs on them before storing (batches.attachments.rebuild_image: header check, reduced decoding,
re-encoding, thumbnail). It prints the peak resident memory above the process's resident memory
just before (Linux VmHWM, reset through /proc/self/clear_refs) and the wall time. The pictures
are made first, by this process, in a temporary directory:

- a 40 MP JPEG photo (8000 × 5000, baseline, as a phone or camera writes it), the same
  progressive (refused: above the limit of pictures decoded whole) and a 12 MP progressive one;
- the 8000 × 5000 PNG of 127 KB of the report (flat colour: a decompression bomb in effect);
- a PNG at the PNG/WebP pixel limit (ATTACHMENT_MAX_PIXELS_DECODED_WHOLE), in colour and with
  transparency;
- a 12 MP phone photo for comparison.

Targets (docs/web.md, "Photos"): a 40 MP photo costs < 150 MiB and < 2 s.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_pictures(directory: Path) -> dict[str, Path]:
    import random

    from PIL import Image, ImageDraw, ImageFilter

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    random.seed(20)

    def photo_like(width: int, height: int, *, noise: bool = True) -> Image.Image:
        """Shapes and texture at a resolution a camera would give; enough detail that the JPEG is
        of a photo's size, not of a flat colour's."""
        small = Image.new("RGB", (width // 8, height // 8), (120, 140, 160))
        draw = ImageDraw.Draw(small)
        for _ in range(400):
            x, y = random.randrange(small.width), random.randrange(small.height)
            r = random.randrange(5, small.width // 6)
            colour = tuple(random.randrange(256) for _ in range(3))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        big = small.resize((width, height), Image.Resampling.BICUBIC)
        if not noise:  # a PNG of a photo's texture would not fit in ATTACHMENT_MAX_BYTES
            return big
        grain = Image.effect_noise((width, height), 24).convert("RGB")
        return Image.blend(big, grain, 0.12).filter(ImageFilter.SMOOTH)

    pictures = {}
    forty = photo_like(8000, 5000)
    pictures["40 MP JPEG (8000x5000)"] = directory / "40mp.jpg"
    forty.save(pictures["40 MP JPEG (8000x5000)"], "JPEG", quality=88)
    pictures["40 MP progressive JPEG"] = directory / "40mp-progressive.jpg"
    forty.save(pictures["40 MP progressive JPEG"], "JPEG", quality=88, progressive=True)
    del forty
    label = "12 MP progressive JPEG (4000x3000)"
    pictures[label] = directory / "16mp-progressive.jpg"
    photo_like(4000, 3000).save(pictures[label], "JPEG", quality=88, progressive=True)
    twelve = photo_like(4000, 3000)
    pictures["12 MP JPEG (4000x3000)"] = directory / "12mp.jpg"
    twelve.save(pictures["12 MP JPEG (4000x3000)"], "JPEG", quality=88)
    del twelve
    pictures["8000x5000 PNG, flat (the report's)"] = directory / "bomb.png"
    Image.new("RGB", (8000, 5000), (250, 250, 250)).save(pictures["8000x5000 PNG, flat (the report's)"], "PNG")
    limit = settings.ATTACHMENT_MAX_PIXELS_DECODED_WHOLE
    width = math.isqrt(limit * 3 // 2)
    height = limit // width
    at_limit = photo_like(width - width % 8, height - height % 8, noise=False)
    label = f"PNG at the limit ({at_limit.width}x{at_limit.height})"
    pictures[label] = directory / "limit.png"
    at_limit.save(pictures[label], "PNG")
    rgba = at_limit.convert("RGBA")
    rgba.putalpha(200)
    label = f"PNG with alpha at the limit ({at_limit.width}x{at_limit.height})"
    pictures[label] = directory / "limit-alpha.png"
    rgba.save(pictures[label], "PNG")
    return pictures


def current_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def measure(path: Path) -> dict:
    """In this (fresh) process: read the upload and rebuild it as an upload does."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from PIL import Image

    from batches.attachments import rebuild_image
    from batches.errors import InputError

    # Warm the code paths once on a small picture (imports, Pillow's plugins), as a worker that
    # has served before has them.
    small = io.BytesIO()
    Image.new("RGB", (64, 48)).save(small, "JPEG")
    rebuild_image(small.getvalue(), keep_location=False)

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    before = current_rss_kib()
    started = time.perf_counter()
    data = path.read_bytes()
    try:
        photo, _thumb, facts = rebuild_image(data, keep_location=False)
        outcome = f"stored {facts['width']}x{facts['height']}, {len(photo) // 1024} KiB"
    except InputError as refused:
        outcome = "refused (400): " + " ".join(str(m) for ms in refused.errors.values() for m in ms)
    seconds = time.perf_counter() - started
    return {
        "bytes": len(data),
        "peak_mib": (peak_rss_kib() - before) / 1024,
        "seconds": seconds,
        "outcome": outcome,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process's side
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return
    with tempfile.TemporaryDirectory(prefix="bench_upload_") as directory:
        pictures = make_pictures(Path(directory))
        print(f"{'picture':52} {'file':>9} {'peak RSS +':>11} {'time':>7}  outcome")
        for label, path in pictures.items():
            done = subprocess.run(
                [sys.executable, __file__, "--measure", str(path)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{label:52} {row['bytes'] / 1024:>7.0f} K {row['peak_mib']:>7.1f} MiB {row['seconds']:>6.2f}s"
                f"  {row['outcome'][:110]}"
            )


if __name__ == "__main__":
    main()
