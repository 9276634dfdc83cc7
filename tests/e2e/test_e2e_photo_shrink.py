"""The batch card shrinks a chosen photo in the browser before sending it (batches/static/web/
photo.js): a 4000 × 3000 camera photo, turned by its EXIF orientation, reaches the server as an
upright JPEG of at most ATTACHMENT_MAX_SIDE on its long side, and is attached."""

import io

import pytest
from PIL import Image

from batches import attachments
from batches.models import Attachment
from tests.conftest import Api, Flow

from .conftest import PHONE

ORIENTATION = 0x0112


@pytest.mark.e2e
def test_a_large_photo_is_shrunk_in_the_browser_before_it_is_sent(people, tmp_path, settings, monkeypatch):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments"), "base_url": None},
        },
    }
    received = []  # what the server was sent: the picture's size in its file and its bytes
    rebuild = attachments.rebuild_image

    def recording(data, **kwargs):
        received.append((Image.open(io.BytesIO(data)).size, len(data)))
        return rebuild(data, **kwargs)

    monkeypatch.setattr(attachments, "rebuild_image", recording)
    flow = Flow(Api())
    flow.pre_storage()
    # a camera photo held upright: stored 4000 × 3000 on the sensor, EXIF orientation 6
    image = Image.effect_noise((4000, 3000), 40).convert("RGB")
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    chosen = tmp_path / "IMG_0001.jpg"
    image.save(chosen, "JPEG", quality=95, exif=exif.tobytes())

    operator = people("operator-1", PHONE)
    operator.sign_in()
    operator.go(f"/batches/{flow.number}/")
    operator.page.select_option("#id_photo_kind", "arrival")
    operator.page.set_input_files("#id_photo_file", str(chosen))
    operator.submit("[data-testid=photo-form] button[type=submit]")

    attachment = Attachment.objects.get(batch__number=flow.number)
    # the browser sent an upright JPEG of 1920 × 2560, not the 4000 × 3000 file
    assert received == [((1920, 2560), received[0][1])]
    assert received[0][1] < chosen.stat().st_size
    assert (attachment.width, attachment.height) == (1920, 2560)
    assert attachment.original_name == "IMG_0001.jpg"
