"""Evidence photos (docs/api.md, "Evidence"): uploaded through the API or the batch page, checked to
be real images, re-encoded (no active content, no polyglot, no EXIF unless the location is kept
on purpose), stored through the `attachments` storage, served only to those who see the batch,
shown in the timeline and the trace, and never deleted through any interface."""

import hashlib
import io

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from PIL import Image

from batches.models import Attachment, Event
from tests.conftest import Flow

GPS_IFD, MAKE = 0x8825, 0x010F


@pytest.fixture(autouse=True)
def photo_store(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments"), "base_url": None},
        },
    }
    return tmp_path / "attachments"


def jpeg(*, size=(640, 480), gps=True, colour=(200, 40, 40)) -> bytes:
    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (30.0, 15.0, 0.0), 3: "E", 4: (120.0, 10.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_with_alpha() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 128, 0, 128)).save(out, "PNG")
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (10, 10, 200)).save(out, "WEBP")
    return out.getvalue()


def upload(api, user, number, data, *, kind="arrival", name="photo.jpg", **extra):
    body = {"file": SimpleUploadedFile(name, data, content_type="image/jpeg"), "kind": kind, **extra}
    return api(user).post(f"/api/batches/{number}/attachments/", body, format="multipart")


@pytest.fixture
def arrived(api):
    flow = Flow(api)
    flow.pre_storage()
    return flow


def stored_bytes(attachment, variant="file") -> bytes:
    from batches.attachments import open_attachment

    with open_attachment(attachment, variant) as handle:
        return handle.read()


def test_a_photo_is_stored_re_encoded_without_exif_with_a_thumbnail_and_an_event(api, arrived):
    original = jpeg()
    arrive_event = Event.objects.get(batch__number=arrived.number, action="arrive")

    response = upload(api, "operator-1", arrived.number, original, event=arrive_event.pk, note="卸货")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["event"], body["note"], body["content_type"]) == (
        "arrival",
        arrive_event.pk,
        "卸货",
        "image/jpeg",
    )
    attachment = Attachment.objects.get(pk=body["id"])
    photo = stored_bytes(attachment)
    assert photo != original and photo[:2] == b"\xff\xd8"
    assert hashlib.sha256(photo).hexdigest() == body["sha256"] == attachment.sha256
    stored = Image.open(io.BytesIO(photo))
    assert stored.size == (640, 480)
    assert dict(stored.getexif()) == {}  # make, GPS position: all gone
    thumb = Image.open(io.BytesIO(stored_bytes(attachment, "thumbnail")))
    assert max(thumb.size) <= 320
    # every upload writes an event (R6)
    event = Event.objects.filter(batch__number=arrived.number).last()
    assert event.action == "attach" and event.role == "operator"
    assert event.details["attachment"] == body["id"] and event.details["sha256"] == body["sha256"]
    assert event.status_before == event.status_after == "pre_storage"


def test_the_location_is_kept_only_on_purpose(api, arrived, settings):
    settings.ATTACHMENT_KEEP_LOCATION = True

    body = upload(api, "operator-1", arrived.number, jpeg()).json()

    exif = Image.open(io.BytesIO(stored_bytes(Attachment.objects.get(pk=body["id"])))).getexif()
    assert MAKE not in exif  # only the position is carried over
    assert exif.get_ifd(GPS_IFD)[1] == "N"
    assert body["location_kept"] is True


def test_png_and_webp_are_accepted_and_become_jpeg(api, arrived):
    for data, name in ((png_with_alpha(), "a.png"), (webp(), "b.webp")):
        response = upload(api, "operator-1", arrived.number, data, name=name, kind="disinfection")
        assert response.status_code == 201, response.content
        photo = stored_bytes(Attachment.objects.get(pk=response.json()["id"]))
        assert Image.open(io.BytesIO(photo)).format == "JPEG"


def test_a_polyglot_keeps_only_its_picture(api, arrived):
    payload = b"<script>alert(1)</script>PK\x03\x04hidden-zip"
    response = upload(api, "operator-1", arrived.number, jpeg() + payload)

    assert response.status_code == 201
    photo = stored_bytes(Attachment.objects.get(pk=response.json()["id"]))
    assert b"<script>" not in photo and b"hidden-zip" not in photo


@pytest.mark.parametrize(
    "data",
    [
        b"not an image at all",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"",
        None,  # a JPEG cut short
        "gif",
    ],
)
def test_anything_but_a_real_jpeg_png_or_webp_is_refused(api, arrived, data):
    if data is None:
        data = jpeg()[:300]
    elif data == "gif":
        out = io.BytesIO()
        Image.new("RGB", (10, 10)).save(out, "GIF")
        data = out.getvalue()

    response = upload(api, "operator-1", arrived.number, data)

    assert response.status_code == 400, response.content
    assert "file" in response.json()
    assert not Attachment.objects.exists()
    assert not Event.objects.filter(action="attach").exists()


def test_a_photo_over_the_size_limit_is_refused(api, arrived, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000

    response = upload(api, "operator-1", arrived.number, jpeg(size=(800, 800)))

    assert response.status_code == 400 and "file" in response.json()
    assert not Attachment.objects.exists()


def test_who_may_attach_what_in_the_order_of_the_spec(api, arrived, clock):
    number = arrived.number
    assert upload(api, None, number, jpeg()).status_code == 401
    assert upload(api, "operator-2", number, jpeg()).status_code == 404  # another warehouse
    assert upload(api, "regulator-2", number, jpeg()).status_code == 404  # another district
    assert upload(api, "merchant-a1", number, jpeg()).status_code == 403  # sees it, may not
    assert upload(api, "reviewer-a", number, jpeg()).status_code == 403
    assert upload(api, "regulator", number, jpeg(), kind="arrival").status_code == 403
    assert upload(api, "regulator", number, jpeg(), kind="quarantine").status_code == 201
    assert upload(api, "regulator-city", number, jpeg(), kind="destruction").status_code == 201
    assert upload(api, "operator-1", number, jpeg(), kind="teleport").status_code == 400
    other = Flow(api)
    other.declare()
    foreign_event = Event.objects.filter(batch__number=other.number).first()
    assert upload(api, "operator-1", number, jpeg(), event=foreign_event.pk).status_code == 400
    # before the batch is the warehouse's: 409
    response = upload(api, "regulator", other.number, jpeg(), kind="quarantine")
    assert response.status_code == 409 and response.json()["code"] == "invalid_transition"


def test_photos_are_served_only_to_those_who_see_the_batch(api, web, arrived):
    body = upload(api, "operator-1", arrived.number, jpeg()).json()

    for user, want in (
        ("operator-1", 200),
        ("merchant-a1", 200),
        ("reviewer-a", 200),
        ("regulator", 200),
        ("regulator-city", 200),
        ("merchant-b1", 404),
        ("operator-2", 404),
        ("regulator-2", 404),
        (None, 401),
    ):
        for url in (body["url"], body["thumbnail_url"]):
            response = api(user).get(url)
            assert response.status_code == want, (user, url, response.status_code)
            if want == 200:
                assert response["Content-Type"] == "image/jpeg"
                assert "private" in response["Cache-Control"]
                assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"
    listed = api("merchant-a1").get(f"/api/batches/{arrived.number}/attachments/").json()
    assert [row["id"] for row in listed["results"]] == [body["id"]]
    assert api("merchant-b1").get(f"/api/batches/{arrived.number}/attachments/").status_code == 404
    # on the pages: the same scope
    assert web("operator-1").get(f"/photos/{body['id']}/thumbnail/").status_code == 200
    assert web("merchant-b1").get(f"/photos/{body['id']}/").status_code == 404
    assert web(None).get(f"/photos/{body['id']}/").status_code == 302  # to sign in
    assert api("operator-1").get("/api/attachments/00000000-0000-0000-0000-000000000000/file/").status_code == 404


def test_the_timeline_and_the_trace_show_thumbnails_and_the_card_opens_the_camera(api, web, clock, sell):
    flow = Flow(api)
    flow.pre_storage()
    body = upload(api, "operator-1", flow.number, jpeg()).json()
    thumb = f"/photos/{body['id']}/thumbnail/"

    card = web("operator-1").get(f"/batches/{flow.number}/").content.decode()
    assert thumb in card
    assert 'capture="environment"' in card and 'enctype="multipart/form-data"' in card
    trace = web("regulator").get(f"/trace/batches/{flow.number}/").content.decode()
    assert thumb in trace
    # a merchant's page shows the thumbnail but no photo form
    merchant = web("merchant-a1").get(f"/batches/{flow.number}/").content.decode()
    assert thumb in merchant and 'capture="environment"' not in merchant


def test_the_batch_card_form_attaches_a_photo(web, arrived):
    answer = web("operator-1").post(
        f"/batches/{arrived.number}/photos/",
        {"kind": "disinfection", "note": "喷洒后", "file": SimpleUploadedFile("p.jpg", jpeg(), "image/jpeg")},
    )

    assert answer.status_code == 302 and answer["Location"] == f"/batches/{arrived.number}/"
    (attachment,) = Attachment.objects.all()
    assert (attachment.kind, attachment.note, attachment.role) == ("disinfection", "喷洒后", "operator")
    bad = web("operator-1").post(
        f"/batches/{arrived.number}/photos/",
        {"kind": "arrival", "file": SimpleUploadedFile("x.jpg", b"nope", "image/jpeg")},
    )
    assert bad.status_code == 302 and Attachment.objects.count() == 1
    assert web("merchant-a1").post(f"/batches/{arrived.number}/photos/", {"kind": "arrival"}).status_code == 403
    assert web("operator-2").post(f"/batches/{arrived.number}/photos/", {"kind": "arrival"}).status_code == 404


def test_a_photo_refused_by_the_batch_state_is_said_on_the_card(web, api):
    flow = Flow(api)
    flow.submitted()  # in the regulator's district, not yet assigned to a warehouse

    answer = web("regulator").post(
        f"/batches/{flow.number}/photos/",
        {"kind": "quarantine", "file": SimpleUploadedFile("p.jpg", jpeg(), "image/jpeg")},
        follow=True,
    )

    assert answer.status_code == 200 and "批次分配到监管仓后才能上传照片。" in answer.content.decode()
    assert Attachment.objects.count() == 0


def test_a_photo_is_never_deleted_or_changed_through_any_interface(api, arrived):
    body = upload(api, "operator-1", arrived.number, jpeg()).json()
    attachment = Attachment.objects.get(pk=body["id"])

    for url in (f"/api/batches/{arrived.number}/attachments/", body["url"], body["thumbnail_url"]):
        for method in ("delete", "put", "patch"):
            assert getattr(api("operator-1"), method)(url).status_code == 405, (method, url)
    with pytest.raises(ValidationError):
        attachment.delete()
    with pytest.raises(ValidationError):
        Attachment.objects.filter(pk=attachment.pk).delete()
    with pytest.raises(ValidationError):
        Attachment.objects.filter(pk=attachment.pk).update(note="changed")
    attachment.note = "changed"
    with pytest.raises(ValidationError):
        attachment.save()
    model_admin = admin.site._registry[Attachment]
    assert not model_admin.has_delete_permission(None, attachment)
    assert not model_admin.has_change_permission(None, attachment)
    if connection.vendor == "postgresql":  # below the ORM too: the trigger of 0005
        for sql in ("DELETE FROM batches_attachment", "UPDATE batches_attachment SET note = 'x'"):
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
    assert Attachment.objects.get(pk=attachment.pk).note == ""


def test_an_s3_compatible_store_is_one_setting_away():
    """ATTACHMENT_STORAGE=s3 wires django-storages' S3Storage with a private bucket (no network)."""
    import os
    import subprocess
    import sys

    script = (
        "from django.conf import settings; import django; django.setup();"
        "from django.core.files.storage import storages; s = storages['attachments'];"
        "print(type(s).__name__, s.bucket_name, s.endpoint_url, s.default_acl, s.location)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ATTACHMENT_STORAGE": "s3",
        "ATTACHMENT_S3_BUCKET": "evidence",
        "ATTACHMENT_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    }
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["S3Storage", "evidence", "http://127.0.0.1:9000", "private", "attachments"]
