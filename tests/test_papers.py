"""Papers with the declaration (docs/web.md): the merchant attaches the customs declaration, the
inspection and quarantine certificate and other papers (a PDF or a photo) to a draft or a
rejected declaration; the reviewer sees them beside the approve button and can reject with
"papers missing"; the crew sees them at the arrival check. Scoped like the batch, checked and
stored as evidence photos are, never deleted: a wrong paper is superseded by its replacement."""

import html as html_lib
import io
import re
import zlib

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from PIL import Image

from batches.models import BatchDocument, Event, Status
from tests.conftest import Flow
from tests.test_web_support import text_of

GPS_IFD = 0x8825


@pytest.fixture(autouse=True)
def paper_store(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments"), "base_url": None},
        },
    }
    return tmp_path / "attachments"


def pdf(body: bytes = b"", *, eof=True) -> bytes:
    """A small, well-formed PDF; `body` adds objects before the trailer."""
    return (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
        + body
        + b"trailer\n<< /Root 1 0 R >>\n"
        + (b"%%EOF\n" if eof else b"")
    )


def stream(content: bytes, kind: bytes = b"/Type /ObjStm /N 1 /First 0", *, packed=True) -> bytes:
    """An object holding a stream: by default an object stream, compressed (where a PDF may pack
    its objects, dictionaries of actions included)."""
    body = zlib.compress(content) if packed else content
    flate = b" /Filter /FlateDecode" if packed else b""
    return b"3 0 obj\n<< %s%s /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (kind, flate, len(body), body)


def photo(*, gps=True) -> bytes:
    image = Image.new("RGB", (600, 400), (240, 240, 230))
    exif = Image.Exif()
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (30.0, 15.0, 0.0), 3: "E", 4: (120.0, 10.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def send(api, user, number, data, *, kind="customs_declaration", name="paper.pdf", **extra):
    body = {"file": SimpleUploadedFile(name, data, content_type="application/pdf"), "kind": kind, **extra}
    return api(user).post(f"/api/batches/{number}/documents/", body, format="multipart")


def plain(html: str) -> str:
    """The visible text of a piece of HTML, tags stripped and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def content_of(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def draft(api):
    flow = Flow(api)
    flow.declare()
    return flow


# --- the API ---------------------------------------------------------------------------------


def test_a_merchant_attaches_a_pdf_and_a_photo_and_they_are_listed_with_an_event_each(api, draft):
    the_pdf = pdf()
    first = send(api, "merchant-a1", draft.number, the_pdf, note="报关单 310120261129000001")
    second = send(api, "merchant-a1", draft.number, photo(), kind="inspection_certificate", name="cert.jpg")

    assert first.status_code == 201 and second.status_code == 201, (first.content, second.content)
    a, b = first.json(), second.json()
    assert (a["kind"], a["content_type"], a["size"], a["current"], a["thumbnail_url"]) == (
        "customs_declaration",
        "application/pdf",
        len(the_pdf),
        True,
        None,
    )
    assert (a["uploaded_by"], a["role"], a["supersedes"], a["superseded_by"]) == ("merchant-a1", "merchant", None, None)
    assert a["note"] == "报关单 310120261129000001" and a["kind_display"] == "报关单"
    assert (b["kind"], b["content_type"], b["current"]) == ("inspection_certificate", "image/jpeg", True)
    assert b["thumbnail_url"] == f"/api/documents/{b['id']}/thumbnail/"
    listed = api("merchant-a1").get(f"/api/batches/{draft.number}/documents/").json()
    assert listed["count"] == 2 and [row["id"] for row in listed["results"]] == [a["id"], b["id"]]
    events = Event.objects.filter(batch__number=draft.number, action="attach_paper").order_by("id")
    assert [e.details["document"] for e in events] == [a["id"], b["id"]]
    assert all(e.status_before == e.status_after == Status.DRAFT for e in events)


def test_a_pdf_is_served_as_it_was_sent_as_a_download_and_a_photo_re_encoded_without_exif(api, draft):
    the_pdf = pdf()
    a = send(api, "merchant-a1", draft.number, the_pdf).json()
    b = send(api, "merchant-a1", draft.number, photo(gps=True), kind="other", name="x.jpg").json()

    response = api("merchant-a1").get(a["url"])
    assert response.status_code == 200 and content_of(response) == the_pdf
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")  # never shown inside the site
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"] and "private" in response["Cache-Control"]
    image = api("merchant-a1").get(b["url"])
    data = content_of(image)
    assert image["Content-Type"] == "image/jpeg" and data[:2] == b"\xff\xd8"
    assert image["Content-Disposition"].startswith("inline;")
    assert not dict(Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD))  # the position is gone
    thumb = api("merchant-a1").get(b["thumbnail_url"])
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(content_of(thumb))).size) <= 320
    assert api("merchant-a1").get(f"/api/documents/{a['id']}/thumbnail/").status_code == 404  # a PDF has none


def test_papers_are_read_by_whoever_sees_the_batch_and_by_nobody_else(api, web, draft):
    doc = send(api, "merchant-a1", draft.number, pdf()).json()
    draft.post("merchant-a1", "submit")
    draft.post("reviewer-a", "approve", {"warehouse": "WH-1"})

    for user, want in (
        ("merchant-a1", 200),
        ("reviewer-a", 200),
        ("operator-1", 200),
        ("regulator", 200),
        ("regulator-city", 200),
        ("merchant-a2", 404),  # same market, another merchant
        ("merchant-b1", 404),
        ("reviewer-b", 404),
        ("operator-2", 404),
        ("regulator-2", 404),
        (None, 401),
    ):
        assert api(user).get(doc["url"]).status_code == want, user
        assert api(user).get(f"/api/batches/{draft.number}/documents/").status_code == want, user
    # on the pages: the same scope
    assert web("operator-1").get(f"/papers/{doc['id']}/").status_code == 200
    assert web("merchant-b1").get(f"/papers/{doc['id']}/").status_code == 404
    assert web(None).get(f"/papers/{doc['id']}/").status_code == 302  # to sign in
    assert api("merchant-a1").get("/api/documents/00000000-0000-0000-0000-000000000000/file/").status_code == 404


def test_who_may_attach_in_the_order_of_the_contract(api, draft):
    """401 → 404 → 403 → 400 → 409; a merchant attaches only to own draft or rejected batches."""
    number = draft.number
    assert send(api, None, number, pdf()).status_code == 401
    assert send(api, "merchant-a2", number, pdf()).status_code == 404
    assert send(api, "merchant-b1", number, pdf()).status_code == 404
    assert send(api, "reviewer-a", number, pdf(), kind="teleport").status_code == 403  # 403 before 400
    assert send(api, "regulator", number, pdf()).status_code == 403
    assert send(api, "merchant-a1", number, pdf(), kind="teleport").status_code == 400
    assert send(api, "merchant-a1", number, b"<html><script>alert(1)</script>").status_code == 400
    draft.post("merchant-a1", "submit")
    assert send(api, "merchant-a1", number, b"not a paper").status_code == 400  # 400 before 409
    refused = send(api, "merchant-a1", number, pdf())
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    draft.post("reviewer-a", "reject", {"reason": "缺少检疫证明"})
    assert send(api, "merchant-a1", number, pdf(), kind="inspection_certificate").status_code == 201  # rejected
    draft.post("merchant-a1", "revise")
    assert send(api, "merchant-a1", number, pdf(), kind="other").status_code == 201  # draft again
    assert BatchDocument.objects.filter(batch__number=number).count() == 2


def test_a_wrong_paper_is_superseded_by_its_replacement_and_both_are_kept(api, draft, new_flow):
    wrong = send(api, "merchant-a1", draft.number, pdf(), note="旧").json()
    right = send(api, "merchant-a1", draft.number, pdf(b"% the right one\n"), note="新", supersedes=wrong["id"])

    assert right.status_code == 201 and right.json()["supersedes"] == wrong["id"]
    listed = api("reviewer-a").get(f"/api/batches/{draft.number}/documents/").json()["results"]
    rows = {row["id"]: row for row in listed}
    assert rows[wrong["id"]]["current"] is False and rows[wrong["id"]]["superseded_by"] == right.json()["id"]
    assert rows[right.json()["id"]]["current"] is True
    assert api("merchant-a1").get(wrong["url"]).status_code == 200  # still there to read
    # A paper is replaced once: the second replacement is refused by the state (409)
    again = send(api, "merchant-a1", draft.number, pdf(), supersedes=wrong["id"])
    assert again.status_code == 409 and again.json()["code"] == "already_superseded"
    # Only a paper of this batch can be replaced (400)
    other = new_flow()
    other.declare()
    foreign = send(api, "merchant-a1", other.number, pdf()).json()
    assert send(api, "merchant-a1", draft.number, pdf(), supersedes=foreign["id"]).status_code == 400
    assert send(api, "merchant-a1", draft.number, pdf(), supersedes="not-an-id").status_code == 400
    assert BatchDocument.objects.filter(batch__number=draft.number).count() == 2


def test_a_paper_is_never_deleted_or_changed_through_any_interface(api, draft):
    body = send(api, "merchant-a1", draft.number, pdf()).json()
    document = BatchDocument.objects.get(pk=body["id"])

    for url in (f"/api/batches/{draft.number}/documents/", body["url"]):
        for method in ("delete", "put", "patch"):
            assert getattr(api("merchant-a1"), method)(url).status_code == 405, (method, url)
    with pytest.raises(ValidationError):
        document.delete()
    with pytest.raises(ValidationError):
        BatchDocument.objects.filter(pk=document.pk).delete()
    with pytest.raises(ValidationError):
        BatchDocument.objects.filter(pk=document.pk).update(note="changed")
    document.note = "changed"
    with pytest.raises(ValidationError):
        document.save()
    model_admin = admin.site._registry[BatchDocument]
    assert not model_admin.has_delete_permission(None, document)
    assert not model_admin.has_change_permission(None, document)
    if connection.vendor == "postgresql":  # below the ORM too: the trigger of the papers' migration
        for sql in ("DELETE FROM batches_batchdocument", "UPDATE batches_batchdocument SET note = 'x'"):
            with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
    assert BatchDocument.objects.get(pk=document.pk).note == ""


# --- the checks of a file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(pdf(b"3 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj\n"), id="javascript"),
        pytest.param(pdf(b"3 0 obj\n<< /S /J#61vaScript /J#53 (x) >>\nendobj\n"), id="escaped-name"),
        pytest.param(pdf(stream(b"<< /Type /Action /S /Launch /F (cmd.exe) >>")), id="packed-launch"),
        pytest.param(pdf(stream(b"<< /S /JavaScript >>", packed=False)), id="unpacked-object-stream"),
        pytest.param(pdf(stream(b"x", b"/Type /ObjStm /Filter /LZWDecode", packed=False)), id="lzw-object-stream"),
        pytest.param(pdf(b"3 0 obj\n<< /Type /EmbeddedFile >>\nendobj\n"), id="embedded-file"),
        pytest.param(pdf(eof=False), id="incomplete"),
        pytest.param(b"GIF89a" + pdf(), id="another-file-in-front"),
        pytest.param(b"PK\x03\x04" + b"\0" * 64, id="zip"),
        pytest.param(b"", id="empty"),
    ],
)
def test_a_pdf_with_active_content_or_not_a_pdf_at_all_is_refused(api, draft, data):
    response = send(api, "merchant-a1", draft.number, data)

    assert response.status_code == 400 and "file" in response.json(), response.content
    assert not BatchDocument.objects.exists()


def test_a_compressed_stream_that_unpacks_beyond_the_limit_is_refused(api, draft, settings):
    settings.ATTACHMENT_MAX_BYTES = 100_000
    bomb = pdf(stream(b"\0" * 1_000_000))
    assert len(bomb) < 100_000

    assert send(api, "merchant-a1", draft.number, bomb).status_code == 400
    # an ordinary compressed page is accepted, and so is an image whose bytes happen to spell a name
    page = pdf(stream(b"BT /F1 12 Tf 72 712 Td (Customs declaration) Tj ET", b""))
    assert send(api, "merchant-a1", draft.number, page).status_code == 201
    image = pdf(stream(b"\x89\x10/JS \x00/JavaScript\x01", b"/Type /XObject /Subtype /Image", packed=False))
    assert send(api, "merchant-a1", draft.number, image).status_code == 201


def test_a_paper_over_the_size_limit_is_refused(api, draft, settings):
    settings.ATTACHMENT_MAX_BYTES = 2_000

    big = send(api, "merchant-a1", draft.number, pdf(b"% " + b"x" * 3_000 + b"\n"))
    assert big.status_code == 400 and "MB" in big.json()["file"][0]
    assert send(api, "merchant-a1", draft.number, pdf()).status_code == 201


# --- the pages -------------------------------------------------------------------------------------


def test_the_merchant_attaches_and_replaces_a_paper_on_the_batch_page(web, draft):
    page = web("merchant-a1").get(f"/batches/{draft.number}/").content.decode()
    assert 'data-testid="paper-form"' in page and 'accept="application/pdf' in page
    assert 'data-testid="papers-missing"' in page

    answer = web("merchant-a1").post(
        f"/batches/{draft.number}/papers/",
        {"kind": "customs_declaration", "note": "第一版", "file": SimpleUploadedFile("a.pdf", pdf(), "text/html")},
    )
    assert answer.status_code == 302 and answer["Location"] == f"/batches/{draft.number}/#papers"
    (first,) = BatchDocument.objects.all()
    replaced = web("merchant-a1").post(
        f"/batches/{draft.number}/papers/",
        {
            "kind": "customs_declaration",
            "supersedes": str(first.pk),
            "file": SimpleUploadedFile("b.jpg", photo(), "image/jpeg"),
        },
        follow=True,
    )
    text = text_of(replaced)
    assert "单证已附于批次" in text and "1 份已替换的单证" in text
    assert BatchDocument.objects.get(supersedes=first).content_type == "image/jpeg"
    bad = web("merchant-a1").post(
        f"/batches/{draft.number}/papers/",
        {"kind": "other", "file": SimpleUploadedFile("x.pdf", b"nope", "application/pdf")},
        follow=True,
    )
    assert "不是 PDF" in text_of(bad) and BatchDocument.objects.count() == 2
    assert web("reviewer-a").post(f"/batches/{draft.number}/papers/", {"kind": "other"}).status_code == 403
    assert web("merchant-b1").post(f"/batches/{draft.number}/papers/", {"kind": "other"}).status_code == 404
    # no form once submitted
    draft.post("merchant-a1", "submit")
    assert 'data-testid="paper-form"' not in web("merchant-a1").get(f"/batches/{draft.number}/").content.decode()


def test_the_reviewer_sees_the_papers_beside_the_approve_button_and_rejects_for_papers_missing(api, web, draft):
    doc = send(api, "merchant-a1", draft.number, photo(), kind="customs_declaration", name="c.jpg").json()
    draft.post("merchant-a1", "submit")

    queue = web("reviewer-a").get("/review/")
    assert [getattr(b, "paper_count", None) for b in queue.context["batches"]] == [1]
    html = web("reviewer-a").get(f"/batches/{draft.number}/").content.decode()
    papers_at, approve_at = html.index('data-testid="papers"'), html.index('data-action="approve"')
    assert papers_at < approve_at and html.index(f"/papers/{doc['id']}/thumbnail/") < approve_at
    assert "缺少：检验检疫证明" in plain(html)  # the certificate is missing
    assert 'data-testid="reject-papers-missing"' in html

    sent = html_lib.unescape(re.search(r'name="reject-reason" value="([^"]*)"', html).group(1))
    assert "检验检疫证明" in sent and "报关单" not in sent  # names what is missing
    answer = web("reviewer-a").post(
        f"/batches/{draft.number}/do/reject/", {"reject-reason": sent, "next": f"/batches/{draft.number}/"}
    )
    assert answer.status_code == 302
    assert (draft.detail()["status"], draft.detail()["reject_reason"]) == ("rejected", sent)
    assert "检验检疫证明" in text_of(web("merchant-a1").get(f"/batches/{draft.number}/"))


def test_the_crew_sees_the_papers_in_the_arrival_check(api, web, draft):
    doc = send(api, "merchant-a1", draft.number, pdf(), kind="inspection_certificate").json()
    draft.post("merchant-a1", "submit")
    draft.post("reviewer-a", "approve", {"warehouse": "WH-1"})

    html = web("operator-1").get(f"/batches/{draft.number}/").content.decode()
    form = html[html.index('data-action="arrive"') : html.index('data-testid="do-arrive"')]
    assert f"/papers/{doc['id']}/" in form and "检验检疫证明" in form and 'data-testid="paper-pdf"' in form
    assert "缺少：报关单" in plain(form)
    download = web("operator-1").get(f"/papers/{doc['id']}/")
    assert download["Content-Type"] == "application/pdf" and download["Content-Disposition"].startswith("attachment")
