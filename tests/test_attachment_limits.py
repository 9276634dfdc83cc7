"""Evidence photos are bounded in memory and time (docs/web.md, "Photos"): the pixel count is
read from the header and a picture above the limit is refused with a 400 that says why, before
any pixel is decoded; a large JPEG is decoded reduced (libjpeg's scaling through Pillow's draft),
never at full size; PNG and WebP, decoded whole, have a lower limit; every photo is stored at
most ATTACHMENT_MAX_SIDE on its long side, the way the camera held it. What is asserted is what
Pillow was asked to decode, not how long it took (bench/bench_upload.py measures that)."""

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image, ImageFile

from batches.attachments import rebuild_image
from batches.errors import InputError
from batches.models import Attachment
from tests.conftest import Flow

ORIENTATION = 0x0112


@pytest.fixture(autouse=True)
def photo_store(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments"), "base_url": None},
        },
    }


@pytest.fixture
def decoded(monkeypatch):
    """The sizes at which Pillow decoded pixels (after a draft, its reduced size)."""
    sizes = []
    original = ImageFile.ImageFile.load

    def load(self):
        if self.tile:  # pixels still to decode
            sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


def png_bomb(width: int, height: int) -> bytes:
    """A valid RGB PNG of one flat colour, made row by row: 8000 × 5000 is ~120 KB on disk and
    would be 160 MB in memory decoded, like the one of the report."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\xf0" * (3 * width)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def jpeg(size, *, orientation=None, progressive=False) -> bytes:
    image = Image.new("RGB", size, (90, 140, 60))
    image.paste((200, 30, 30), (0, 0, size[0] // 4, size[1] // 4))  # a red corner: top left as shot
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), progressive=progressive)
    return out.getvalue()


def refusal(data: bytes) -> str:
    """The refusal's message, in English (the Chinese is the catalogue's)."""
    with translation.override("en"), pytest.raises(InputError) as refused:
        rebuild_image(data, keep_location=False)
    return " ".join(str(message) for message in refused.value.errors["file"])


def test_the_reports_8000_by_5000_png_is_refused_from_its_header_and_never_decoded(api, decoded):
    bomb = png_bomb(8000, 5000)
    assert len(bomb) < 200 * 1024  # small on the wire, like the report's 127 KB
    flow = Flow(api)
    flow.pre_storage()

    response = api("operator-1").post(
        f"/api/batches/{flow.number}/attachments/",
        {"file": SimpleUploadedFile("bomb.png", bomb, content_type="image/png"), "kind": "arrival"},
        format="multipart",
    )

    assert response.status_code == 400
    assert "8000 × 5000" in response.json()["file"][0] and "12" in response.json()["file"][0]
    assert decoded == []  # not one pixel decoded
    assert not Attachment.objects.exists()


def test_any_picture_above_the_pixel_limit_is_refused_before_decoding(settings, decoded):
    settings.ATTACHMENT_MAX_PIXELS = 1_000_000

    message = refusal(jpeg((1250, 801)))

    assert "1250 × 801" in message and "1 million" in message
    assert decoded == []


def test_a_png_within_its_limit_is_stored_reduced(settings, decoded):
    settings.ATTACHMENT_MAX_SIDE = 400
    out = io.BytesIO()
    Image.new("P", (1200, 900), 3).save(out, "PNG")

    photo, _thumb, facts = rebuild_image(out.getvalue(), keep_location=False)

    assert (facts["width"], facts["height"]) == (400, 300)
    assert Image.open(io.BytesIO(photo)).size == (400, 300)
    assert decoded[0] == (1200, 900)  # decoded whole (its limit bounds that), then reduced


def test_a_progressive_jpeg_has_the_lower_limit_of_pictures_decoded_whole(settings, decoded):
    settings.ATTACHMENT_MAX_PIXELS_DECODED_WHOLE = 500_000

    message = refusal(jpeg((1000, 600), progressive=True))

    assert "A progressive JPEG picture is accepted up to 0.5 million pixels; this one is 1000 × 600." in message
    assert decoded == []
    # a baseline JPEG of the same size is decoded reduced instead
    assert rebuild_image(jpeg((1000, 600)), keep_location=False)[2]["width"] == 1000


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_never_at_full_size(settings, decoded):
    settings.ATTACHMENT_MAX_SIDE = 600

    photo, _thumb, facts = rebuild_image(jpeg((4000, 2400)), keep_location=False)

    # libjpeg decoded it at 1/4, the smallest of its scales still at least 600 × 360: 1000 × 600
    assert decoded == [(1000, 600)]
    assert (facts["width"], facts["height"]) == (600, 360)
    assert Image.open(io.BytesIO(photo)).size == (600, 360)


def test_a_reduced_photo_keeps_the_way_the_camera_held_it(settings):
    settings.ATTACHMENT_MAX_SIDE = 300
    # shot sideways: stored 1200 × 800 with EXIF orientation 6 (turn 90° clockwise to view)
    photo, _thumb, facts = rebuild_image(jpeg((1200, 800), orientation=6), keep_location=False)

    stored = Image.open(io.BytesIO(photo))
    assert stored.size == (200, 300) and (facts["width"], facts["height"]) == (200, 300)
    # the red corner, top left in the sensor's frame, is top right once turned
    red, green = (200, 30, 30), (90, 140, 60)
    right_top, left_top = stored.getpixel((190, 10)), stored.getpixel((10, 10))
    assert max(abs(a - b) for a, b in zip(right_top, red, strict=True)) < 40
    assert max(abs(a - b) for a, b in zip(left_top, green, strict=True)) < 40
    assert ORIENTATION not in stored.getexif()
