"""The declaration's papers (docs/web.md "Papers with the declaration"): the customs
declaration (报关单), the inspection and quarantine certificate (检验检疫证明) and others,
attached by the merchant to a draft or a rejected declaration, seen by the reviewer beside the
approve button and by the crew at the arrival check.

Stored and checked as evidence photos are (batches.attachments): a photo is rebuilt by the same
`rebuild_image` (a real JPEG, PNG or WebP within ATTACHMENT_MAX_BYTES and ATTACHMENT_MAX_PIXELS,
re-encoded without EXIF, with a thumbnail); a PDF is kept as it is, but only within the same
size limit, only if it is a PDF from its first byte to its `%%EOF`, and only without active
content (`check_pdf`). Both go to the `attachments` storage; the row and its `attach_paper`
event are written in one transaction under the batch's row lock (R6). Nothing deletes or
changes a paper: a wrong one is replaced by an upload that names it in `supersedes`.
"""

import hashlib
import re
import uuid
import zlib

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .actions import Capability, require
from .actors import Actor
from .attachments import rebuild_image, storage
from .errors import DomainError, InputError
from .lifecycle import record_event
from .models import Batch, BatchDocument, DocumentKind, Status

PDF = "application/pdf"
JPEG = "image/jpeg"
# Papers belong to the declaration: attached while the merchant may still change it.
ATTACHABLE = {Status.DRAFT, Status.REJECTED}

# PDF names that make a document act rather than be read: scripts, launching programs,
# embedded files, forms that run code, media. Refused in the PDF's objects, also with #hh
# escapes and inside compressed object streams (check_pdf).
ACTIVE_NAMES = {
    b"/JavaScript",
    b"/JS",
    b"/Launch",
    b"/EmbeddedFile",
    b"/EmbeddedFiles",
    b"/RichMedia",
    b"/XFA",
    b"/SubmitForm",
    b"/ImportData",
    b"/GoToE",
}
NAME = re.compile(rb"/[^\s/<>\[\]()%{}]+")
ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
STREAM = re.compile(rb"(?<![A-Za-z])stream\r?\n")  # not the end of `endstream`
PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")
# How much the compressed streams of one PDF may inflate to, in all, while they are read, as a
# multiple of ATTACHMENT_MAX_BYTES (a zip bomb is refused).
INFLATE_LIMIT_FACTOR = 4


def _file_error(message=None) -> InputError:
    return InputError({"file": [message or _("The file is not a PDF or a JPEG, PNG or WebP image.")]})


def _too_large() -> InputError:
    limit = settings.ATTACHMENT_MAX_BYTES
    return InputError({"file": [_("The file is larger than %(max)d MB.") % {"max": limit // (1024 * 1024)}]})


def _names_in(data: bytes) -> set[bytes]:
    """The PDF names in `data`, with their #hh escapes undone."""
    return {ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(0)) for match in NAME.finditer(data)}


def _split(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The PDF's text outside its streams, and each stream as (its dictionary, its raw bytes)."""
    outside, streams, position = [], [], 0
    while (match := STREAM.search(data, position)) is not None:
        end = data.find(b"endstream", match.end())
        if end < 0:
            break
        head = data[position : match.start()]
        outside.append(head)
        streams.append((head[head.rfind(b"obj") + 3 :] if b"obj" in head else head[-2000:], data[match.end() : end]))
        position = end + len(b"endstream")
    outside.append(data[position:])
    return b"\n".join(outside), streams


def check_pdf(data: bytes) -> None:
    """InputError (400) unless `data` is a PDF from its first byte (no other file in front of
    it: a polyglot) to a `%%EOF` at its end, naming none of ACTIVE_NAMES in its objects: the text
    outside its streams, and its object streams (`/ObjStm`, where objects may be packed and
    compressed), unpacked within INFLATE_LIMIT_FACTOR × ATTACHMENT_MAX_BYTES in all. Other
    streams (page contents, images, fonts) hold no actions and are not read: their bytes would
    only match names by chance."""
    if not PDF_HEADER.match(data):
        raise _file_error()
    if b"%%EOF" not in data[-1024:]:
        raise _file_error(_("The PDF is incomplete."))
    active = _file_error(_("The PDF contains scripts, embedded files or other active content."))
    outside, streams = _split(data)
    if _names_in(outside) & ACTIVE_NAMES:
        raise active
    budget = INFLATE_LIMIT_FACTOR * settings.ATTACHMENT_MAX_BYTES
    for head, raw in streams:
        names = _names_in(head)
        if b"/ObjStm" not in names:
            continue
        if b"/Filter" not in names:
            unpacked = raw  # stored as it is
        elif b"/FlateDecode" in names:
            try:
                unpacked = zlib.decompressobj().decompress(raw, budget + 1)
            except zlib.error:
                raise _file_error(_("The PDF could not be read.")) from None
        else:  # packed in a way not read here: what it holds cannot be checked
            raise _file_error(_("The PDF could not be read."))
        budget -= len(unpacked)
        if budget < 0:
            raise _file_error(_("The PDF's contents are too large once unpacked."))
        if _names_in(unpacked) & ACTIVE_NAMES:
            raise active


def read_paper(upload) -> tuple[bytes, bytes, str]:
    """(file, thumbnail or b"", content type) of an upload, checked; InputError (400) otherwise."""
    limit = settings.ATTACHMENT_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise _too_large()
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large()
    if data.startswith(b"%PDF-"):
        check_pdf(data)
        return data, b"", PDF
    if not data:
        raise _file_error()
    try:
        photo, thumb, _facts = rebuild_image(data, keep_location=False)
    except InputError as error:
        if error.errors.get("file") == [_("The file is not a JPEG, PNG or WebP image.")]:
            raise _file_error() from None  # not an image, and not a PDF either
        raise  # an image, refused for a reason of its own (too many pixels)
    return photo, thumb, JPEG


def paper_of(batch: Batch, document_id) -> uuid.UUID:
    """The id of one of the batch's papers, or InputError (400)."""
    try:
        ident = uuid.UUID(str(document_id))
    except ValueError:
        ident = None
    if ident is None or not BatchDocument.objects.filter(batch=batch, pk=ident).exists():
        raise InputError({"supersedes": [_("This batch has no paper %s.") % str(document_id)[:40]]})
    return ident


def check_attachable(batch: Batch) -> None:
    if batch.status not in ATTACHABLE:
        raise DomainError(
            "invalid_transition",
            _("Papers are attached while the declaration is a draft or rejected."),
            status=batch.status,
            allowed=[],
        )


def document_add(
    *, batch: Batch, actor: Actor, kind: str, upload, note: str = "", supersedes=None, now=None
) -> BatchDocument:
    """Attach a paper to the declaration. The caller has found the batch in the actor's scope
    (404); here: the role (403), the paper replaced is one of this batch's (400), the file (400),
    the state and that the paper replaced is still current (409)."""
    require(actor, Capability.ATTACH_PAPERS)
    if supersedes is not None:
        supersedes = paper_of(batch, supersedes)
    content, thumb, content_type = read_paper(upload)
    now = now or timezone.now()
    check_attachable(batch)
    ident = uuid.uuid4()
    day = timezone.localdate(now).strftime("%Y/%m/%d")
    extension = "pdf" if content_type == PDF else "jpg"
    # Slow I/O (perhaps S3) before the row lock; names are chosen here, never taken from the upload.
    store = storage()
    file_name = store.save(f"papers/{day}/{batch.number}/{ident}.{extension}", ContentFile(content))
    thumb_name = store.save(f"papers/{day}/{batch.number}/{ident}-thumb.jpg", ContentFile(thumb)) if thumb else ""
    try:
        with transaction.atomic():
            locked = Batch.objects.select_for_update(of=("self",)).get(pk=batch.pk)
            check_attachable(locked)
            replaced = None
            if supersedes is not None:
                replaced = BatchDocument.objects.select_related("superseded_by").get(batch=locked, pk=supersedes)
                if hasattr(replaced, "superseded_by"):
                    raise already_replaced(locked)
            document = BatchDocument.objects.create(
                id=ident,
                batch=locked,
                kind=kind,
                note=note,
                file=file_name,
                thumbnail=thumb_name,
                content_type=content_type,
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                original_name=(getattr(upload, "name", "") or "")[:200],
                uploaded_by=actor.user,
                role=actor.role,
                uploaded_at=now,
                supersedes=replaced,
            )
            record_event(
                batch=locked,
                action="attach_paper",
                actor=actor,
                status_before=locked.status,
                status_after=locked.status,
                details={
                    "document": str(ident),
                    "kind": kind,
                    "sha256": document.sha256,
                    **({"supersedes": str(replaced.pk)} if replaced else {}),
                    **({"note": note} if note else {}),
                },
                at=now,
            )
    except IntegrityError:
        if supersedes is None:
            raise
        # Another replacement of the same paper committed first (the one-to-one constraint).
        raise already_replaced(batch) from None
    return document


def already_replaced(batch: Batch) -> DomainError:
    return DomainError(
        "already_superseded",
        _("This paper has already been replaced; replace the current one instead."),
        status=batch.status,
        allowed=[],
    )


def open_document(document: BatchDocument, variant: str = "file"):
    """The stored paper (`file`) or its thumbnail (`thumbnail`, photos only), opened for reading."""
    name = document.thumbnail if variant == "thumbnail" else document.file
    if not name:
        raise FileNotFoundError(variant)
    return storage().open(name, "rb")


def papers_of(batch: Batch) -> dict:
    """What the pages show of a batch's papers: the current ones, those superseded (with what
    replaced them), the kinds still missing, and a rejection reason naming them."""
    documents = list(batch.documents.select_related("uploaded_by").order_by("uploaded_at", "id"))
    replacement = {d.supersedes_id: d for d in documents if d.supersedes_id}
    for document in documents:
        document.replacement = replacement.get(document.pk)
    current = [d for d in documents if d.replacement is None]
    present = {d.kind for d in current}
    required = (DocumentKind.CUSTOMS_DECLARATION, DocumentKind.INSPECTION_CERTIFICATE)
    missing = [kind for kind in required if kind not in present]
    names = _(", ").join(str(kind.label) for kind in (missing or required))
    return {
        "current": current,
        "superseded": [d for d in documents if d.replacement is not None],
        "missing": [str(kind) for kind in missing],
        "missing_labels": [str(kind.label) for kind in missing],
        "kinds": DocumentKind.choices,
        "reject_reason": _("Papers missing: %(papers)s. Attach them and submit again.") % {"papers": names},
    }
