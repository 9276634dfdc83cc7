"""axe-core (tests/data/axe, a pinned copy from the npm registry) on every page of every role,
on a phone and on a desktop: no critical and no serious violation."""

import pytest
from django.core.management import call_command

from batches.models import Batch, Code, CodeStatus

from .conftest import DESKTOP, PASSWORD, PHONE


def pages_of_each_role():
    released = Batch.objects.get(customs_declaration_no="DEMO-07-RELEASED")
    submitted = Batch.objects.get(customs_declaration_no="DEMO-02-SUBMITTED")
    approved = Batch.objects.get(customs_declaration_no="DEMO-03-APPROVED")
    resting = Batch.objects.get(customs_declaration_no="DEMO-05-RESTING")
    draft = Batch.objects.get(customs_declaration_no="DEMO-01-DRAFT")
    code = Code.objects.filter(batch=released, status=CodeStatus.RELEASED).order_by("item_no").first()
    return {
        "merchant-a1": [
            "/",
            "/batches/new/",
            "/batches/",
            f"/batches/{released.number}/",
            f"/batches/{draft.number}/edit/",
            "/sales/new/",
            "/sales/",
            "/batches/NO-SUCH/",
        ],
        "reviewer-a": ["/", "/review/", "/batches/", f"/batches/{submitted.number}/", f"/batches/{approved.number}/"],
        "operator-1": [
            "/scan/",
            f"/scan/?q={approved.number}",
            f"/scan/?q={resting.number}",
            f"/scan/?q={released.number}",
            "/warehouse/board/",
            "/batches/",
            f"/warehouse/release/{released.number}/",
        ],
        "regulator": [
            "/",
            "/trace/",
            f"/trace/codes/{code.token}/",
            f"/trace/batches/{released.number}/",
            f"/trace/merchants/{released.merchant_id}/",
            "/alerts/",
            "/batches/",
            f"/batches/{resting.number}/",
            "/warehouse/board/?warehouse=WH-1",
        ],
    }, code


@pytest.mark.e2e
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_critical_or_serious_accessibility_violation_on_any_page(people, viewport):
    call_command("seed_demo", password=PASSWORD)
    pages, code = pages_of_each_role()
    found = {}
    anonymous = people("nobody", viewport, label="axe-public").with_axe()
    for path in ("/accounts/login/", f"/c/{code.token}"):
        anonymous.go(path)
        found[("public", path)] = anonymous.axe()
    for username, paths in pages.items():
        person = people(username, viewport, label=f"axe-{username}").with_axe()
        person.sign_in()
        for path in paths:
            person.go(path)
            found[(username, path)] = person.axe()
    assert {where: problems for where, problems in found.items() if problems} == {}
