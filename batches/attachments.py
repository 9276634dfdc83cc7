"""Evidence photos of the warehouse's records: arrival check, disinfection, sampling,
quarantine, destruction (README "Evidence").

An upload is checked and rebuilt before anything is stored: Pillow must recognise a real
JPEG, PNG or WebP image within ATTACHMENT_MAX_BYTES and ATTACHMENT_MAX_PIXELS (read from its
header, before decoding); the pixels are then decoded reduced to at most ATTACHMENT_MAX_SIDE
on the long side and written anew as a JPEG, so nothing of the uploaded file survives but its
picture — no scripts, no trailing data (polyglots), no EXIF. With ATTACHMENT_KEEP_LOCATION the
GPS position alone is carried over on purpose. A thumbnail is made the same way. Both files go
to the `attachments` storage (settings.STORAGES); the row and its `attach` event (R6) are
written in one transaction under the batch's row lock. Nothing deletes an attachment.
"""

import hashlib
import io
import uuid
import warnings

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from .actions import RoleRefused
from .actors import Actor
from .errors import DomainError, InputError
from .lifecycle import record_event
from .models import Attachment, AttachmentKind, Batch, Event, Role, Status

ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP"}
# Formats Pillow cannot decode reduced: the whole picture is in memory once (4 bytes a pixel),
# so they (and progressive JPEGs) have a pixel limit of their own
# (settings.ATTACHMENT_MAX_PIXELS_DECODED_WHOLE).
DECODED_WHOLE = {"PNG", "WEBP"}
THUMBNAIL_SIDE = 320
JPEG_QUALITY = 88
GPS_IFD = 0x8825

# Who may attach which kind of evidence: the crew records what it does; the regulator may add
# evidence of a quarantine decision or a destruction it oversaw.
KIND_ROLES = {
    AttachmentKind.ARRIVAL: {Role.OPERATOR},
    AttachmentKind.DISINFECTION: {Role.OPERATOR},
    AttachmentKind.SAMPLE: {Role.OPERATOR},
    AttachmentKind.QUARANTINE: {Role.OPERATOR, Role.REGULATOR},
    AttachmentKind.DESTRUCTION: {Role.OPERATOR, Role.REGULATOR},
}
# Evidence belongs to the warehouse's part of the process: not before the batch is assigned.
NOT_YET_IN_WAREHOUSE = {Status.DRAFT, Status.SUBMITTED, Status.REJECTED}


def storage():
    return storages["attachments"]


def require_may_attach(actor: Actor, kind: str) -> None:
    """RoleRefused (403) unless the actor's role may attach this kind of photo (KIND_ROLES):
    the one check, for the API and the page."""
    if actor.role not in KIND_ROLES.get(kind, set()):
        raise RoleRefused(_("Your role cannot attach this kind of photo."))


def _million(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f}".removesuffix(".0")


def decoded_whole(image: Image.Image) -> str | None:
    """The kind of picture, for the person, when it can only be decoded with the whole of it in
    memory: PNG and WebP (Pillow decodes them whole), a progressive JPEG (libjpeg keeps all its
    coefficients, 3 bytes a pixel, whatever the scale); else None."""
    if image.format in DECODED_WHOLE:
        return {"PNG": "PNG", "WEBP": "WebP"}[image.format]
    if image.format == "JPEG" and image.info.get("progressive"):
        return _("progressive JPEG")
    return None


def check_pixels(image: Image.Image) -> None:
    """InputError (400) for a picture with more pixels than may be decoded, from its header."""
    width, height = image.size
    pixels = width * height
    if pixels > settings.ATTACHMENT_MAX_PIXELS:
        message = _(
            "The photo is %(width)d × %(height)d pixels; at most %(max)s million pixels are accepted. "
            "Choose a smaller photo or take it at a lower resolution."
        ) % {"width": width, "height": height, "max": _million(settings.ATTACHMENT_MAX_PIXELS)}
        raise _image_error(message)
    kind = decoded_whole(image)
    if kind and pixels > settings.ATTACHMENT_MAX_PIXELS_DECODED_WHOLE:
        message = _(
            "A %(kind)s picture is accepted up to %(max)s million pixels; this one is %(width)d × %(height)d. "
            "Send a smaller picture, or the photo as the camera took it."
        ) % {
            "kind": kind,
            "width": width,
            "height": height,
            "max": _million(settings.ATTACHMENT_MAX_PIXELS_DECODED_WHOLE),
        }
        raise _image_error(message)


def decode_reduced(image: Image.Image, max_side: int) -> Image.Image:
    """The picture decoded and at most `max_side` on its long side. A JPEG is decoded at the
    smallest of libjpeg's scales (1/2, 1/4, 1/8) that is still at least that size (Pillow's
    draft), so a 40 MP photo never exists in memory at full size; other formats are decoded
    whole (their pixel limit bounds that) and reduced at once."""
    width, height = image.size
    scale = min(1.0, max_side / max(width, height))
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image.format == "JPEG":
        image.draft("RGB", target)
    image.load()
    if image.mode not in ("RGB", "RGBA", "L", "LA"):  # palette, 1-bit, 16-bit, CMYK: into a mode that resizes
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    if image.size != target:
        # reducing_gap: a fast integer box reduction first when it can, then bicubic (Lanczos took
        # 2.5 times as long for no difference a person sees at this scale)
        image = image.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return image


def _image_error(message=None) -> InputError:
    return InputError({"file": [message or _("The file is not a JPEG, PNG or WebP image.")]})


def rebuild_image(data: bytes, *, keep_location: bool) -> tuple[bytes, bytes, dict]:
    """(photo JPEG, thumbnail JPEG, facts) from the uploaded bytes, or InputError (400).

    Bounded in memory and time (docs/web.md, "Photos"): the dimensions in the file's header are
    checked before any pixel is decoded; a JPEG is decoded reduced (libjpeg scales by 1/2, 1/4
    or 1/8 while decoding); PNG, WebP and progressive JPEG, which cannot be decoded without the
    whole picture in memory, have a lower pixel limit. The stored photo is at most
    ATTACHMENT_MAX_SIDE on its long side."""
    limit = settings.ATTACHMENT_MAX_BYTES
    if len(data) > limit:
        raise InputError({"file": [_("The photo is larger than %(max)d MB.") % {"max": limit // (1024 * 1024)}]})
    if not data:
        raise _image_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ACCEPTED_FORMATS:
                raise _image_error()
            check_pixels(probe)
            probe.verify()  # structure and checksums, without decoding the pixels
            image = Image.open(io.BytesIO(data))
            source_format = image.format
            exif = image.getexif()
            gps = dict(exif.get_ifd(GPS_IFD)) if keep_location else {}
            image = decode_reduced(image, settings.ATTACHMENT_MAX_SIDE)
            image = ImageOps.exif_transpose(image)  # the photo as the camera held it
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning, OSError, ValueError):
        raise _image_error() from None
    except Exception:  # any decoder failure on hostile input is bad input, never a 500
        raise _image_error() from None
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    elif image.mode == "L":
        image = image.convert("RGB")
    out_exif = Image.Exif()
    if gps:
        out_exif[GPS_IFD] = gps
    photo = io.BytesIO()
    image.save(photo, "JPEG", quality=JPEG_QUALITY, optimize=True, exif=out_exif.tobytes() if gps else b"")
    thumb_image = image.copy()
    thumb_image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    thumb = io.BytesIO()
    thumb_image.save(thumb, "JPEG", quality=80, optimize=True)
    facts = {
        "width": image.width,
        "height": image.height,
        "source_format": source_format,
        "location_kept": bool(gps),
    }
    return photo.getvalue(), thumb.getvalue(), facts


def attachment_add(
    *, batch: Batch, actor: Actor, kind: str, upload, event_id: int | None = None, note: str = "", now=None
) -> Attachment:
    """Attach a photo to the batch's record (README "Evidence"). The caller has found the batch
    in the actor's scope (404); here: the role may attach this kind (403), the event named is
    one of this batch's (400), the batch is in the warehouse's part of the process (409), the
    image is real (400). The row and the `attach` event are written together (R6)."""
    require_may_attach(actor, kind)
    if upload.size is not None and upload.size > settings.ATTACHMENT_MAX_BYTES:
        limit = settings.ATTACHMENT_MAX_BYTES
        raise InputError({"file": [_("The photo is larger than %(max)d MB.") % {"max": limit // (1024 * 1024)}]})
    data = upload.read(settings.ATTACHMENT_MAX_BYTES + 1)
    photo, thumb, facts = rebuild_image(data, keep_location=settings.ATTACHMENT_KEEP_LOCATION)
    now = now or timezone.now()
    ident = uuid.uuid4()
    day = timezone.localdate(now).strftime("%Y/%m/%d")
    check_attachable(batch)
    if event_id is not None and not Event.objects.filter(batch=batch, pk=event_id).exists():
        raise InputError({"event": [_("This batch has no event %s.") % event_id]})
    # Slow I/O (perhaps S3) before the row lock. Names are chosen here, never taken from the
    # upload. A refusal under the lock below leaves two unreferenced files, never a row without one.
    store = storage()
    file_name = store.save(f"{day}/{batch.number}/{ident}.jpg", ContentFile(photo))
    thumb_name = store.save(f"{day}/{batch.number}/{ident}-thumb.jpg", ContentFile(thumb))
    with transaction.atomic():
        locked = Batch.objects.select_for_update(of=("self",)).get(pk=batch.pk)
        check_attachable(locked)
        event = Event.objects.filter(batch=locked, pk=event_id).first() if event_id is not None else None
        attachment = Attachment.objects.create(
            id=ident,
            batch=locked,
            kind=kind,
            event=event,
            note=note,
            file=file_name,
            thumbnail=thumb_name,
            content_type="image/jpeg",
            width=facts["width"],
            height=facts["height"],
            size=len(photo),
            sha256=hashlib.sha256(photo).hexdigest(),
            original_name=(getattr(upload, "name", "") or "")[:200],
            location_kept=facts["location_kept"],
            uploaded_by=actor.user,
            role=actor.role,
            uploaded_at=now,
        )
        record_event(
            batch=locked,
            action="attach",
            actor=actor,
            status_before=locked.status,
            status_after=locked.status,
            details={
                "attachment": str(ident),
                "kind": kind,
                "event": event.pk if event else None,
                "sha256": attachment.sha256,
                "note": note,
            },
            at=now,
        )
    return attachment


def check_attachable(batch: Batch) -> None:
    if batch.status in NOT_YET_IN_WAREHOUSE or batch.warehouse_id is None:
        raise DomainError(
            "invalid_transition",
            _("Photos are attached once the batch is assigned to a warehouse."),
            status=batch.status,
            allowed=[],
        )


def open_attachment(attachment: Attachment, variant: str):
    """The stored file of the photo (`file`) or its thumbnail (`thumbnail`), opened for reading."""
    name = attachment.thumbnail if variant == "thumbnail" else attachment.file
    return storage().open(name, "rb")
