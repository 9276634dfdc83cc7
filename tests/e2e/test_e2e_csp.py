"""Content-Security-Policy: the pages work with no inline script or style, and nothing on them
is blocked — the people's pages, the public verification page, Swagger UI at /api/docs/ (its
files served by us, not a CDN) and the admin. Chromium reports every blocked script, style or
handler on the console; the `people` fixture fails the test if it saw one."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from batches.models import Batch, Code

from .conftest import DESKTOP, PASSWORD


@pytest.mark.e2e
def test_every_kind_of_page_works_under_the_policy(people, live_server):
    call_command("seed_demo", password=PASSWORD)
    released = Batch.objects.get(customs_declaration_no="DEMO-07-RELEASED")
    code = Code.objects.filter(batch=released).order_by("item_no").first()

    public = people("public", label="csp-public")
    response = public.page.goto(f"{live_server.url}/c/{code.token}")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert released.number in public.text()
    # the page's style sheet applied (it used to be inline)
    assert public.page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor") == "rgb(22, 50, 79)"

    operator = people("operator-1", label="csp-operator")
    operator.sign_in()
    operator.go(f"/batches/{released.number}/")
    operator.page.wait_for_selector("html.js")  # app.js ran
    operator.go("/warehouse/board/")

    regulator = people("regulator", DESKTOP, label="csp-regulator")
    regulator.sign_in()
    regulator.go("/")
    regulator.go(f"/trace/codes/{code.token}/")
    assert code.token in regulator.text()

    # Swagger UI renders from our own static files, its start-up script from ?script
    docs = regulator.page.goto(f"{live_server.url}/api/docs/")
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    regulator.page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert regulator.page.locator(".opblock").count() > 10

    get_user_model().objects.create_superuser("csp-admin", "admin@example.cn", PASSWORD)
    admin = people("csp-admin", DESKTOP, label="csp-admin")
    admin.go("/admin/login/")
    admin.page.fill("#id_username", "csp-admin")
    admin.page.fill("#id_password", PASSWORD)
    admin.submit("input[type=submit]")
    admin.go("/admin/batches/code/")
    admin.page.wait_for_selector("#result_list")
    admin.go(f"/admin/batches/batch/{released.pk}/change/")
    admin.page.wait_for_selector("#content-main")
