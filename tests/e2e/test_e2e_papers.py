"""Papers with the declaration in the browser (docs/web.md): the merchant picks the country by its
Chinese name and attaches the customs declaration; the reviewer sees the papers above the
approve form and rejects with "papers missing"; the merchant adds the certificate and replaces
a wrong paper; the reviewer approves; the crew sees the papers in the arrival check. axe finds
no serious or critical violation on these pages, on a phone and on a desktop."""

import io

import pytest
from PIL import Image

from batches.models import Batch, BatchDocument, Status
from tests.e2e.conftest import DESKTOP

PDF = (
    b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
)


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (230, 230, 220)).save(out, "JPEG")
    return out.getvalue()


def attach(person, kind, name, data, mime, *, replaces=None):
    page = person.page
    page.select_option("#id_paper_kind", kind)
    page.set_input_files("#id_paper_file", files=[{"name": name, "mimeType": mime, "buffer": data}])
    if replaces is not None:
        page.select_option("#id_paper_supersedes", str(replaces))
    person.submit("[data-testid=paper-form] button[type=submit]")
    assert "单证已附于批次" in person.flash()


@pytest.mark.e2e
def test_papers_go_with_the_declaration_to_the_reviewer_and_the_crew(people):
    # --- the merchant declares, picking the country by its name, and attaches one paper --------
    merchant = people("merchant-a1").with_axe()
    merchant.sign_in()
    page = merchant.page
    merchant.submit("nav.menu >> text=申报批次")
    assert page.locator("#countries option").count() == 249
    page.fill("#id_customs_declaration_no", "310120261129000077")
    page.fill("#id_origin_country", "意大利")
    page.fill("#id_port_of_entry", "上海浦东国际机场")
    page.fill("#id_lines-0-product_name", "羊毛大衣")
    page.fill("#id_lines-0-category", "服装")
    page.fill("#id_lines-0-specification", "女款 M 码")
    page.fill("#id_lines-0-quantity", "3")
    merchant.submit("[data-testid=save-draft]")
    batch = Batch.objects.get()
    assert batch.origin_country == "IT" and "意大利（IT）" in merchant.text()
    assert "缺少：报关单、检验检疫证明" in merchant.text()
    attach(merchant, "customs_declaration", "报关单.pdf", PDF, "application/pdf")
    assert merchant.axe() == []
    merchant.shot("papers-draft")
    merchant.submit("[data-testid=do-submit]")

    # --- the reviewer sees the papers above the approve form and rejects: papers missing -----
    reviewer = people("reviewer-a", DESKTOP).with_axe()
    reviewer.sign_in()
    reviewer.go("/review/")
    assert reviewer.page.inner_text("[data-testid=queue-papers]") == "1"
    reviewer.submit(f"text={batch.number}")
    papers = reviewer.page.locator("[data-testid=papers]")
    assert papers.locator("[data-testid=paper-pdf]").count() == 1 and "缺少：检验检疫证明" in papers.inner_text()
    papers_box = papers.bounding_box()
    approve_box = reviewer.page.locator("[data-action=approve]").bounding_box()
    assert papers_box["y"] + papers_box["height"] <= approve_box["y"]  # right above the approve form
    assert reviewer.axe() == []
    reviewer.shot("papers-review")
    reviewer.submit("[data-testid=reject-papers-missing]")
    assert Batch.objects.get(pk=batch.pk).status == Status.REJECTED

    # --- the merchant reads why, adds the certificate, replaces a wrong paper, submits again --
    merchant.go(f"/batches/{batch.number}/")
    assert "单证不全：缺少检验检疫证明" in merchant.text()
    attach(merchant, "inspection_certificate", "cert.jpg", photo(), "image/jpeg")
    wrong = BatchDocument.objects.get(kind="customs_declaration")
    attach(merchant, "customs_declaration", "报关单-正确.pdf", PDF + b"% v2\n", "application/pdf", replaces=wrong.pk)
    assert "1 份已替换的单证" in merchant.text()
    assert merchant.axe() == []
    merchant.submit("[data-testid=do-revise]")
    merchant.submit("[data-testid=do-submit]")

    # --- the reviewer approves; the crew sees the papers in the arrival check ------------------
    reviewer.go(f"/batches/{batch.number}/")
    assert reviewer.page.locator("[data-testid=papers] [data-testid=paper]").count() == 2
    assert reviewer.page.locator("[data-testid=papers-missing]").count() == 0
    reviewer.page.select_option("#id_approve-warehouse", "WH-1")
    reviewer.submit("[data-testid=do-approve]")
    operator = people("operator-1").with_axe()
    operator.sign_in()
    operator.go(f"/batches/{batch.number}/")
    arrival = operator.page.locator("form[data-action=arrive]")
    assert arrival.locator("[data-testid=paper]").count() == 2
    assert arrival.locator("[data-testid=paper-photo] img").evaluate("img => img.naturalWidth") > 0
    assert operator.axe() == []
    assert operator.wide() == 0
    operator.shot("papers-arrival")
