#!/usr/bin/env python3
"""Phone screenshots of the key screens, in Chinese and in English, from a running server.

    python scripts/screenshots.py --base-url http://127.0.0.1:8000 --out docs/screenshots

The server is one started by `make run` (scripts/run.sh): its demo world (`seed_demo`) and demo
users, whose password is DEMO_PASSWORD or demo12345 (`--password`). The script only reads: it
signs in as each demo user, opens pages, and finds the demo batches through the API with the
browser's session. Screens that the demo world does not have (an incident, when no batch was
tested positive) are left out and named at the end. Files: `{zh,en}-{NN}-{role}-{screen}.png`,
390 × 844 px at device scale 2 (`--viewport 360x740`, `--scale 1`, `--full-page` to change).
The browser is the system's Chromium, as for the browser tests (E2E_CHROMIUM to choose another).
"""

import argparse
import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
LANGUAGES = ("zh-hans", "en")


class Shooter:
    def __init__(self, browser, args):
        self.browser, self.args = browser, args
        self.base = args.base_url.rstrip("/")
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        width, height = (int(n) for n in args.viewport.split("x"))
        self.viewport = {"width": width, "height": height}
        self.count = 0
        self.taken, self.missing = [], []

    def person(self, username):
        """A browser context of its own (cookies), signed in as `username` (None: anonymous)."""
        context = self.browser.new_context(
            viewport=self.viewport,
            device_scale_factor=self.args.scale,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.dismiss())
        if username:
            page.goto(self.base + "/accounts/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", self.args.password)
            with page.expect_navigation():
                page.click("main form button[type=submit]")
            if "/accounts/login/" in page.url:
                sys.exit(f"could not sign in as {username}: is the demo world seeded and the password right?")
        return context, page

    def api(self, page, path):
        """GET an API path with the page's session; the JSON, or None."""
        answer = page.request.get(self.base + path)
        return answer.json() if answer.ok else None

    def batch(self, page, declaration_no):
        found = self.api(page, f"/api/batches/?search={declaration_no}")
        results = (found or {}).get("results") or []
        return results[0]["number"] if results else None

    def shoot(self, context, page, role, name, path, then=None):
        """The page at `path` in each language (the language cookie that the page's switch sets),
        after `then(page)` if given (a search sent, for instance)."""
        if not path:
            self.missing.append(f"{role}-{name}")
            return
        self.count += 1
        for language in LANGUAGES:
            context.add_cookies([{"name": "django_language", "value": language, "url": self.base}])
            page.goto(self.base + path)
            if then is not None:
                then(page)
            page.wait_for_load_state("networkidle")
            short = "zh" if language == "zh-hans" else "en"
            file = self.out / f"{short}-{self.count:02d}-{role}-{name}.png"
            page.screenshot(path=str(file), full_page=self.args.full_page)
            self.taken.append(file)

    def run(self):
        context, page = self.person(None)
        self.shoot(context, page, "public", "sign-in", "/accounts/login/")
        context.close()

        context, page = self.person("merchant-a1")
        released = self.batch(page, "DEMO-07-RELEASED")
        draft = self.batch(page, "DEMO-01-DRAFT")
        self.shoot(context, page, "merchant", "home", "/")
        self.shoot(context, page, "merchant", "declare", "/batches/new/")
        self.shoot(context, page, "merchant", "batches", "/batches/")
        self.shoot(context, page, "merchant", "draft", draft and f"/batches/{draft}/")
        self.shoot(context, page, "merchant", "released-batch", released and f"/batches/{released}/")
        self.shoot(context, page, "merchant", "sell", "/sales/new/")
        self.shoot(context, page, "merchant", "sales", "/sales/")
        codes = released and self.api(page, f"/api/batches/{released}/codes/")
        context.close()

        context, page = self.person(None)
        tokens = {}
        for code in (codes or {}).get("results", []):
            tokens.setdefault(code["status"], code["token"])
        for status in ("released", "sold", "in_warehouse", "recalled"):
            self.shoot(context, page, "public", f"code-{status}", tokens.get(status) and f"/c/{tokens[status]}")
        context.close()

        context, page = self.person("reviewer-a")
        submitted = self.batch(page, "DEMO-02-SUBMITTED")
        self.shoot(context, page, "reviewer", "queue", "/review/")
        self.shoot(context, page, "reviewer", "submitted-batch", submitted and f"/batches/{submitted}/")
        context.close()

        context, page = self.person("operator-1")
        approved = self.batch(page, "DEMO-03-APPROVED")
        pre_storage = self.batch(page, "DEMO-04-PRE-STORAGE")
        resting = self.batch(page, "DEMO-05-RESTING")
        self.shoot(context, page, "operator", "scan", "/scan/")
        self.shoot(context, page, "operator", "arrival-check", approved and f"/scan/?q={approved}")
        self.shoot(context, page, "operator", "disinfection", pre_storage and f"/batches/{pre_storage}/")
        self.shoot(context, page, "operator", "resting", resting and f"/batches/{resting}/")
        self.shoot(context, page, "operator", "release", released and f"/warehouse/release/{released}/")
        self.shoot(context, page, "operator", "board", "/warehouse/board/")
        context.close()

        context, page = self.person("regulator")
        self.shoot(context, page, "regulator", "dashboard", "/dashboard/")
        self.shoot(context, page, "regulator", "alerts", "/alerts/")
        self.shoot(context, page, "regulator", "trace", "/trace/", then=lambda page: search(page, released or ""))
        self.shoot(context, page, "regulator", "trace-batch", released and f"/trace/batches/{released}/")
        self.shoot(context, page, "regulator", "incidents", "/incidents/")
        incidents = (self.api(page, "/api/incidents/") or {}).get("results") or []
        self.shoot(context, page, "regulator", "incident", incidents and f"/incidents/{incidents[0]['id']}/")
        context.close()


def search(page, text):
    """The trace's search is a POST (a buyer's phone stays out of URLs and logs)."""
    page.fill("#id_trace_q", text)
    with page.expect_navigation():
        page.click("form[role=search] button[type=submit]")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "demo12345"))
    parser.add_argument("--viewport", default="390x844", help="WIDTHxHEIGHT in CSS px")
    parser.add_argument("--scale", type=float, default=2, help="device pixel ratio")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not the first screen")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        shooter = Shooter(browser, args)
        shooter.run()
        browser.close()
    print(f"{len(shooter.taken)} screenshots in {shooter.out}")
    if shooter.missing:
        print("not in this world, left out: " + ", ".join(shooter.missing))


if __name__ == "__main__":
    main()
