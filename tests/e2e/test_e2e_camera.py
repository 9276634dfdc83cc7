"""Camera scanning on a phone without a scanner: Chromium's fake camera plays a video of a real
QR label (made here from the code's URL as a y4m file) and the sale list takes the code.
Chromium on Linux has no BarcodeDetector, so this is the vendored jsQR decoder at work."""

import pytest
import qrcode
from django.core.management import call_command
from PIL import Image

from batches.models import Batch, Code, CodeStatus
from warehouse.selectors import qr_url

from .conftest import CHROMIUM, CHROMIUM_ARGS, PASSWORD

WIDTH, HEIGHT = 640, 480


def write_y4m(path, text, frames=6):
    """A few identical 4:2:0 frames of the QR code on white (the fake camera loops them)."""
    matrix = qrcode.make(text, border=4).get_image().convert("L")
    side = HEIGHT - 40
    picture = Image.new("L", (WIDTH, HEIGHT), 255)
    picture.paste(matrix.resize((side, side), Image.NEAREST), ((WIDTH - side) // 2, 20))
    luma = picture.tobytes()
    chroma = bytes([128]) * (WIDTH // 2) * (HEIGHT // 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + luma + chroma + chroma)


@pytest.fixture
def camera_code(transactional_db):
    call_command("seed_demo", password=PASSWORD)
    batch = Batch.objects.get(customs_declaration_no="DEMO-07-RELEASED")
    return Code.objects.filter(batch=batch, status=CodeStatus.RELEASED).select_related("line", "batch").first()


@pytest.fixture
def chromium(monkeypatch, tmp_path, camera_code):
    """The conftest's browser, with a fake camera showing the code's QR label."""
    from playwright.sync_api import sync_playwright

    video = tmp_path / "qr.y4m"
    write_y4m(video, qr_url(camera_code))
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()
        from django.db import connections

        connections.close_all()


@pytest.mark.e2e
def test_a_phone_camera_scans_a_qr_label_into_the_sale(people, camera_code):
    merchant = people("merchant-a1", label="field-camera")
    merchant.context.grant_permissions(["camera"], origin=merchant.base_url)
    merchant.sign_in()
    page = merchant.page
    merchant.go("/sales/new/")
    page.click("[data-testid=camera]")
    row = page.wait_for_selector("[data-scan-rows] li[data-scan-state=ok]", timeout=30_000)
    assert camera_code.line.product_name in row.inner_text()
    assert f"第 {camera_code.item_no} 件" in row.inner_text()
    assert page.get_attribute("form[data-scan-list]", "data-camera-decoder") == "jsQR"
    # With the camera open the scanned row is brought into view, above the phone's tab bar ...
    bar = page.eval_on_selector("nav.menu", "n => n.getBoundingClientRect().top")
    box = row.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= bar + 1, (box, bar)
    # ... and shows the label's code, short on one line, not its whole URL
    raw = row.query_selector(".scan-raw")
    assert raw.inner_text() in (camera_code.serial, camera_code.token)
    assert raw.get_attribute("title") == qr_url(camera_code)
    assert raw.bounding_box()["height"] < 20
    # The label stays in view: the same code is not added again
    page.wait_for_timeout(1500)
    assert page.inner_text("[data-scan-count]") == "1"
    merchant.shot("camera", both=False)
    page.click("[data-camera-close]")
    assert page.locator("[data-camera-panel]").is_hidden()
