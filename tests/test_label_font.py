"""Label sheets without the Debian CJK font (docs/configuration.md: LABEL_CJK_FONT): a server
where fonts-wqy-microhei is not installed, or LABEL_CJK_FONT names a file that is gone, still
prints its labels in Chinese with the PDF readers' own STSong-Light instead of answering 500."""

import subprocess

import pytest


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def pdf_fonts(pdf: bytes) -> str:
    return subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def labels_pdf(api, flow) -> bytes:
    response = api("operator-1").get(f"/api/batches/{flow.number}/labels.pdf")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    return b"".join(response.streaming_content)


def test_without_the_truetype_font_the_labels_print_in_the_built_in_cjk_font(api, flow, clock, settings, caplog):
    flow.coded(clock)
    settings.LABEL_CJK_FONT = "/nonexistent/wqy-microhei.ttc"

    pdf = labels_pdf(api, flow)

    text = pdf_text(pdf)
    for words in ("批次", "品名", "规格", "监管仓", "羊毛大衣", "真丝围巾", flow.number):
        assert words in text, (words, text[:400])
    assert "STSong-Light" in pdf_fonts(pdf)
    assert "LABEL_CJK_FONT='/nonexistent/wqy-microhei.ttc' is not a file" in caplog.text


def test_with_the_truetype_font_it_is_embedded(api, flow, clock, settings):
    flow.coded(clock)
    settings.LABEL_CJK_FONT = ""  # the Debian package's font, which `make test` installs

    pdf = labels_pdf(api, flow)

    assert "羊毛大衣" in pdf_text(pdf)
    fonts = pdf_fonts(pdf)
    assert "STSong-Light" not in fonts and "WenQuanYi" in fonts.replace(" ", "")
