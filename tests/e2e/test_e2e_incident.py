"""Incident mode and evidence photos in a real browser: the operator attaches a photo from the
batch card, the timeline shows it; a positive result opens an incident, the regulator seals the
co-located lots in one click and sees the buyers to contact. Screenshots (Chinese and English)
go to artifacts/screenshots/ like every browser test; docs/web.md shows two of them."""

import io
import time

import pytest
from PIL import Image

from batches.models import Incident, Seal
from tests.conftest import MARKET_B, Api, Flow

from .conftest import DESKTOP, PHONE, REST_SECONDS

MARKET_A2 = {"merchant": "merchant-a2", "reviewer": "reviewer-a", "market": "MKT-A"}


def photo(tmp_path, colour, name):
    path = tmp_path / name
    image = Image.new("RGB", (800, 600), colour)
    for x in range(0, 800, 80):  # a few stripes, so the thumbnail looks like something
        image.paste((255, 255, 255), (x, 0, x + 20, 600))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


@pytest.mark.e2e
def test_photos_in_the_timeline_and_an_incident_sealed_in_one_click(people, tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "attachments"), "base_url": None},
        },
    }
    api = Api()
    # given a lot of market B, arrived the same day, rested, released and partly sold
    sold, positive = Flow(api, **MARKET_B), Flow(api)
    sold.disinfected()
    positive.pre_storage()
    sold.post("operator-1", "move-to-resting")
    sold.sample()
    sold.result("negative")
    time.sleep(REST_SECONDS + 0.5)
    sold.post("operator-1", "move-to-storage")
    sold.post("operator-1", "issue-codes")
    sold.post("operator-1", "release", {"all": True})
    tokens = [c["token"] for c in sold.codes()[:2]]
    response = api("merchant-b1").post(
        "/api/sales/",
        {"codes": tokens, "buyer_name": "王小姐", "buyer_phone": "13912345678", "buyer_kind": "consumer"},
        format="json",
    )
    assert response.status_code == 201, response.content
    # and another lot resting when the positive batch comes in
    beside = Flow(api, **MARKET_A2)
    beside.resting()

    # when the operator attaches photos of the arrival check and the disinfection on the card
    operator = people("operator-1", PHONE)
    operator.sign_in()
    operator.go(f"/batches/{positive.number}/")
    operator.page.select_option("#id_photo_kind", "arrival")
    operator.page.set_input_files("#id_photo_file", photo(tmp_path, (40, 110, 200), "arrival.jpg"))
    operator.page.fill("#id_photo_note", "卸货核对")
    operator.submit("[data-testid=photo-form] button[type=submit]")
    assert "照片已添加" in operator.flash()
    positive.post(
        "operator-1", "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, 201
    )
    operator.go(f"/batches/{positive.number}/")
    operator.page.select_option("#id_photo_kind", "disinfection")
    operator.page.set_input_files("#id_photo_file", photo(tmp_path, (30, 150, 60), "disinfection.jpg"))
    operator.submit("[data-testid=photo-form] button[type=submit]")
    # then the timeline shows both as thumbnails that load
    thumbs = operator.page.locator("[data-testid=photo-thumb] img")
    assert thumbs.count() == 2
    operator.page.locator("[data-testid=photo-thumb]").last.scroll_into_view_if_needed()
    loaded = (
        "[...document.querySelectorAll('[data-testid=photo-thumb] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    for _ in range(50):  # the page's CSP forbids Playwright's string predicates: poll instead
        if operator.page.evaluate(loaded):
            break
        operator.page.wait_for_timeout(100)
    assert operator.page.evaluate(loaded)
    operator.shot("timeline-with-photos")

    # when the positive result comes in
    positive.post("operator-1", "move-to-resting")
    positive.sample()
    positive.result("positive", report_no="HZCDC-POS-7")
    incident = Incident.objects.get(batch__number=positive.number)

    # then the regulator opens the incident from the dashboard and seals both lots in one click
    regulator = people("regulator", DESKTOP)
    regulator.sign_in()
    regulator.go("/dashboard/")
    regulator.submit("[data-testid=open-incidents] a >> nth=0")
    assert f"/incidents/{incident.pk}/" in regulator.page.url
    assert beside.number in regulator.text() and sold.number in regulator.text()
    regulator.page.fill("#id_seal_reason", "同期静置、同日到货")
    regulator.submit("[data-testid=do-seal]")
    assert Seal.objects.filter(lifted_at__isnull=True).count() == 2
    # and the buyers of the sealed lot are listed with their market and merchant
    assert "王小姐" in regulator.text() and "13912345678" in regulator.text()
    regulator.shot("incident")
