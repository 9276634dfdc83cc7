"""No dead end in the lifecycle (docs/web.md, "What comes next on the batch card").

Every reachable state of a batch — each status of SPEC §3, and the states within a status that
the guards tell apart (disinfected or not; no sample, a result pending, invalid results only, a
negative; the rest over with or without the timer; sealed) — is walked with each role on the
batch card, through the Django test client. For each reader the card either offers actions, and
then every one of them is accepted (its form as the page fills it, POSTed to the page, and the
same input to the API), or it names who acts next and why; the role it names, on its own card,
has something the server accepts. A batch whose rest ended before a sample was taken (issue 19)
is one of these states.
"""

import re
from html.parser import HTMLParser

import pytest
from django.db import transaction

from batches.actions import REGISTRY
from batches.models import Batch, BatchLine, Event, Incident
from batches.tasks import sweep_due_rests
from tests.conftest import Flow

WEEK = 7 * 24 * 3600 + 1
USERS = {"merchant": "merchant-a1", "reviewer": "reviewer-a", "operator": "operator-1", "regulator": "regulator"}
BEFORE_WAREHOUSE = {"draft", "submitted", "rejected"}  # the operator sees a batch once it is assigned
ENDED = {"returned", "destroyed", "recalled"}
# How the card's heading names who acts next (zh-hans, the default language).
HEADING_WORDS = {
    "you": "下一步（您）",
    "merchant": "经营户",
    "reviewer": "审核员",
    "operator": "仓库人员",
    "regulator": "监管部门",
    "wait": "等待",
    "nobody": "已结束",
}
DISINFECTION = {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}


# --- the states --------------------------------------------------------------------------------


def rest_passes(clock, sweep=True):
    clock.shift(WEEK)
    if sweep:
        sweep_due_rests()


def _redisinfected_and_rested(flow, clock):
    """A second rest after a quarantine: the first rest's negative does not count (R2)."""
    flow.resting()
    flow.sample("S1")
    flow.sample("S2")
    flow.result("negative", sample_no="S1")
    flow.result("positive", sample_no="S2")
    flow.post("regulator", "redisinfect", {"reason": "阳性，重新消毒"})
    flow.post("operator-1", "disinfect", DISINFECTION, expect=201)
    flow.post("operator-1", "move-to-resting")
    rest_passes(clock)


def _sealed(flow, clock, then=()):
    """`flow`'s batch rested beside one whose sample came back positive; after its own negative
    result and complete rest it goes on with `then`, and the regulator seals it as a co-located lot."""
    positive = Flow(flow.api, merchant="merchant-a2")
    flow.resting()
    flow.sample()
    flow.result("negative")
    positive.resting()
    positive.sample()
    positive.result("positive")
    rest_passes(clock)
    for step in then:
        flow.post("operator-1", *step)
    incident = Incident.objects.get(batch__number=positive.number)
    sealed = flow.api("regulator").post(
        f"/api/incidents/{incident.pk}/seal/", {"batches": [flow.number], "reason": "同区静置"}, format="json"
    )
    assert sealed.status_code == 200, sealed.content


STATES = {
    "draft": lambda f, c: f.to("draft"),
    "submitted": lambda f, c: f.to("submitted"),
    "rejected": lambda f, c: f.to("rejected"),
    "approved": lambda f, c: f.to("approved"),
    "discrepancy": lambda f, c: f.to("discrepancy"),
    "returned": lambda f, c: f.to("returned"),
    "pre_storage, not disinfected": lambda f, c: f.to("pre_storage"),
    "pre_storage, disinfected": lambda f, c: f.disinfected(),
    "resting, no sample": lambda f, c: f.resting(),
    "resting, result pending": lambda f, c: (f.resting(), f.sample()),
    "resting, invalid result only": lambda f, c: (f.resting(), f.sample(), f.result("invalid")),
    "resting, negative": lambda f, c: (f.resting(), f.sample(), f.result("negative")),
    "rest_complete, no sample": lambda f, c: (f.resting(), rest_passes(c)),
    "rest over, timer not run, no sample": lambda f, c: (f.resting(), rest_passes(c, sweep=False)),
    "rest_complete, result pending": lambda f, c: (f.resting(), f.sample(), rest_passes(c)),
    "rest_complete, invalid result only": lambda f, c: (f.resting(), f.sample(), f.result("invalid"), rest_passes(c)),
    "rest_complete, negative": lambda f, c: f.to("rest_complete", c),
    "rest_complete, only an earlier rest's negative": _redisinfected_and_rested,
    "quarantined": lambda f, c: f.to("quarantined"),
    "destroyed": lambda f, c: f.to("destroyed"),
    "stored": lambda f, c: f.to("stored", c),
    "coded": lambda f, c: f.to("coded", c),
    "coded, partly released": lambda f, c: (
        f.to("coded", c),
        f.post("operator-1", "release", {"codes": [f.codes()[0]["token"]]}),
    ),
    "released": lambda f, c: f.to("released", c),
    "recalled": lambda f, c: (f.to("coded", c), f.post("regulator", "recall", {"reason": "召回"})),
    "rest_complete, negative, sealed": lambda f, c: _sealed(f, c),
    "stored, sealed": lambda f, c: _sealed(f, c, then=[("move-to-storage",)]),
    "coded, sealed": lambda f, c: _sealed(f, c, then=[("move-to-storage",), ("issue-codes",)]),
    "released, sealed": lambda f, c: _sealed(
        f, c, then=[("move-to-storage",), ("issue-codes",), ("release", {"all": True})]
    ),
}


# --- reading the card --------------------------------------------------------------------------


class Card(HTMLParser):
    """The batch card's action forms (`section#actions`) with the values the page fills in, and
    its next step."""

    def __init__(self):
        super().__init__()
        self.forms, self.form, self.in_actions, self.depth = [], None, False, 0
        self.step, self.step_open, self.step_text, self.select = None, False, [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and a.get("id") == "actions":
            self.in_actions, self.depth = True, 0
        elif tag == "section" and self.in_actions:
            self.depth += 1
        if tag == "p" and a.get("data-testid") == "next-step":
            self.step, self.step_open = {"by": a.get("data-next-by"), "link": None}, True
        if tag == "a" and self.step_open and a.get("data-testid") == "next-step-link":
            self.step["link"] = a["href"]
        if not self.in_actions:
            return
        if tag == "form":
            self.form = {"url": a["action"], "fields": {}, "radios": {}}
            self.forms.append(self.form)
        elif self.form is not None and tag == "input":
            name, kind = a.get("name"), a.get("type", "text")
            if not name or kind == "submit":
                return
            if kind == "radio":
                self.form["radios"].setdefault(name, []).append(a.get("value"))
                if "checked" in a:
                    self.form["fields"][name] = a.get("value")
            elif kind == "checkbox":
                if "checked" in a:
                    self.form["fields"][name] = a.get("value", "on")
            else:
                self.form["fields"][name] = a.get("value", "")
        elif self.form is not None and tag == "textarea":
            self.form["fields"][a["name"]] = ""
        elif self.form is not None and tag == "select":
            self.select = a["name"]
            self.form["fields"][self.select] = None
        elif self.select and tag == "option" and (self.form["fields"][self.select] is None or "selected" in a):
            self.form["fields"][self.select] = a.get("value")

    def handle_endtag(self, tag):
        if tag == "p" and self.step_open:
            self.step_open = False
            self.step["text"] = " ".join("".join(self.step_text).split())
        if tag == "select":
            self.select = None
        if tag == "form":
            self.form = None
        if tag == "section" and self.in_actions:
            if self.depth == 0:
                self.in_actions = False
            self.depth -= 1

    def handle_data(self, data):
        if self.step_open:
            self.step_text.append(data)


def read_card(html: str) -> Card:
    card = Card()
    card.feed(html)
    return card


FILL = {"reason": "现场核查", "lab": "杭州市疾控中心", "report_no": "R-WALK", "sample_no": "S-WALK"}


def filled(form: dict) -> dict:
    """The form as a person sends it: what the page filled in, the empty fields typed in, the
    first choice of each radio group nobody ticked (a match, a negative result)."""
    data = dict(form["fields"])
    for name, values in form["radios"].items():
        data.setdefault(name, values[0])
    for name, value in data.items():
        if value:
            continue
        field = name.rsplit("-", 1)[-1]
        if field == "received_quantity":
            line = int(data[name.replace("received_quantity", "line")])
            data[name] = str(BatchLine.objects.get(pk=line).quantity)
        elif field in FILL:
            data[name] = FILL[field]
    return data


def api_body(action: str, data: dict) -> dict:
    """The same input as the API takes it."""
    if action == "release":
        return {"all": True}
    if action == "arrive":
        rows = {}
        for name, value in data.items():
            found = re.fullmatch(r"arrival-(\d+)-(\w+)", name)
            if found:
                rows.setdefault(int(found[1]), {})[found[2]] = value
        return {
            "lines": [
                {
                    "line": int(row["line"]),
                    "received_quantity": int(row["received_quantity"]),
                    "type_matches": row["type_matches"] == "on",
                    "spec_matches": row["spec_matches"] == "on",
                }
                for _index, row in sorted(rows.items())
            ]
        }
    prefix = action + "-"
    return {name[len(prefix) :]: value for name, value in data.items() if name.startswith(prefix)}


class Undo(Exception):
    """Rolls a tried action back, so the next one is tried on the same state."""


def accepted_on_page(client, batch: Batch, url: str, action: str, data: dict) -> tuple[bool, str]:
    try:
        with transaction.atomic():
            before = Event.objects.filter(batch=batch, action=action).count()
            response = client.post(url, data)
            recorded = Event.objects.filter(batch=batch, action=action).count() - before
            raise Undo((response.status_code, recorded, response.content[:300]))
    except Undo as undo:
        status, recorded, content = undo.args[0]
    # Done: the page goes on (302), or shows what was done (a recall lists the buyers: 200).
    return status in (200, 302) and recorded == 1, f"{status} {recorded} {content!r}"


def accepted_by_api(api, username: str, batch: Batch, action: str, body: dict) -> tuple[bool, str]:
    spec = REGISTRY[action]
    try:
        with transaction.atomic():
            response = api(username).post(f"/api/batches/{batch.number}/{spec.slug}/", body, format="json")
            raise Undo((response.status_code, response.content[:300]))
    except Undo as undo:
        status, content = undo.args[0]
    return status == spec.success_status, f"{status} {content!r}"


# --- the walk ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(STATES))
def test_every_card_offers_what_the_server_accepts_or_says_who_acts_next(api, web, clock, state):
    flow = Flow(api)
    STATES[state](flow, clock)
    for username in USERS.values():
        api(username)  # each caller's token made now, not inside a tried action that is rolled back
    batch = Batch.objects.get(number=flow.number)
    status = batch.current_status()
    told = {}  # role: the next step its card shows
    can_act = {}  # role: the card offers something the server accepts

    for role, username in USERS.items():
        page = web(username).get(f"/batches/{batch.number}/")
        if page.status_code == 404:
            assert role == "operator" and status in BEFORE_WAREHOUSE, (state, role)
            continue
        assert page.status_code == 200, (state, role)
        card = read_card(page.content.decode())

        # Every action the card offers is accepted, on the page and by the API.
        offered = []
        for form in card.forms:
            found = re.fullmatch(rf"/batches/{re.escape(batch.number)}/do/([\w-]+)/", form["url"])
            assert found, form["url"]
            action = found[1].replace("-", "_")
            data = filled(form)
            ok, why = accepted_on_page(web(username), batch, form["url"], action, data)
            assert ok, (state, role, action, "page", why)
            ok, why = accepted_by_api(api, username, batch, action, api_body(action, data))
            assert ok, (state, role, action, "api", why)
            offered.append(action)

        # And the card says who acts next and why.
        step = card.step
        assert step is not None and step["text"], (state, role)
        assert step["by"] in {*USERS, "wait", "nobody"}, (state, role, step)
        you = step["by"] == role
        assert HEADING_WORDS["you" if you else step["by"]] in step["text"], (state, role, step)
        told[role] = step
        link_works = bool(step["link"]) and web(username).get(step["link"]).status_code == 200
        can_act[role] = bool(offered) or link_works
        # A reader told to act has something on the card that the server accepts.
        if you:
            assert can_act[role], (state, role, step)

    # The role named as acting next sees the batch and, on its own card, can act.
    named = {step["by"] for step in told.values()}
    for role in named & set(USERS):
        assert role in told and told[role]["by"] == role and can_act[role], (state, role, told)
    # Waiting is for a rest still running; nobody acts only once the batch has ended.
    if "wait" in named:
        assert status == "resting" and not batch.rest_is_over()
    assert ("nobody" in named) == (status in ENDED), (state, named)
    # No dead end: a batch that has not ended always has someone who can move it on (or time will).
    if status not in ENDED:
        assert any(can_act.values()) or named == {"wait"}, (state, told)


# --- the dead end of issue 19, walked out of on the pages -------------------------------------


def act(client, number, action, data=None):
    response = client.post(f"/batches/{number}/do/{action}/", data or {})
    assert response.status_code == 302, (action, response.status_code, response.content[:500])


def test_a_rest_that_ended_before_a_sample_was_taken_is_no_dead_end(flow, web, clock):
    # given a batch whose rest ended before anyone took a sample
    flow.resting()
    rest_passes(clock)
    operator = web("operator-1")

    card = operator.get(f"/batches/{flow.number}/").content.decode()

    # then the card does not offer the move to storage the gate would refuse, but a sample,
    # and says why
    assert 'data-testid="do-move_to_storage"' not in card
    assert 'data-testid="do-sample"' in card
    step = read_card(card).step
    assert step["by"] == "operator" and "没有取样" in step["text"]

    # when the crew samples, then records a negative result, from the card
    act(operator, flow.number, "sample", {"sample-sample_no": "S-LATE", "sample-lab": "杭州市疾控中心"})
    assert flow.detail()["samples"][0]["sample_no"] == "S-LATE"
    card = operator.get(f"/batches/{flow.number}/").content.decode()
    assert 'data-testid="do-move_to_storage"' not in card and 'value="S-LATE"' in card
    act(
        operator,
        flow.number,
        "test-result",
        {"test_result-sample_no": "S-LATE", "test_result-result": "negative", "test_result-report_no": "R-LATE"},
    )

    # then the card offers the move, and the batch moves on
    card = operator.get(f"/batches/{flow.number}/").content.decode()
    assert 'data-testid="do-move_to_storage"' in card
    assert read_card(card).step["by"] == "operator"
    act(operator, flow.number, "move-to-storage")
    assert flow.detail()["status"] == "stored"


def test_a_sample_in_rest_complete_counts_for_the_gate_and_a_positive_one_quarantines(flow, new_flow, clock):
    # the API, as the contract says (R2): the current rest period lasts until the goods leave the resting zone
    flow.resting()
    clock.shift(WEEK)  # the rest is over; the timer has not run yet (R1: time is the truth)
    offered = ["sample", "test_result", "move_to_storage"]
    assert flow.detail("operator-1")["allowed_actions"] == offered
    scan = flow.api("operator-1").get(f"/api/scan/{flow.number}/").json()
    assert (scan["kind"], scan["allowed_actions"]) == ("batch", offered)
    sweep_due_rests()
    assert flow.api("operator-1").get("/api/scan/", {"value": flow.number}).json()["allowed_actions"] == offered
    refused = flow.api("operator-1").post(f"/api/batches/{flow.number}/move-to-storage/", {}, format="json")
    assert refused.status_code == 409 and refused.json()["code"] == "no_negative_result"
    flow.sample("S-LATE")
    flow.result("invalid", sample_no="S-LATE", report_no="R-1")
    assert flow.detail()["status"] == "rest_complete"
    flow.result("negative", sample_no="S-LATE", report_no="R-2")
    assert flow.post("operator-1", "move-to-storage")["status"] == "stored"
    # once out of the resting zone, no more samples
    late = flow.api("operator-1").post(
        f"/api/batches/{flow.number}/samples/", {"sample_no": "S-X", "lab": "lab"}, format="json"
    )
    assert late.status_code == 409 and late.json()["code"] == "invalid_transition"

    other = new_flow()
    other.resting()
    rest_passes(clock)
    other.sample("S-LATE")
    other.result("positive", sample_no="S-LATE")
    assert other.detail()["status"] == "quarantined"


def test_the_crew_is_told_what_to_do_with_quarantined_goods_and_the_merchant_why_nothing_moves(flow, web):
    flow.to("quarantined")

    crew = read_card(web("operator-1").get(f"/batches/{flow.number}/").content.decode()).step
    merchant = read_card(web("merchant-a1").get(f"/batches/{flow.number}/").content.decode()).step
    regulator = read_card(web("regulator").get(f"/batches/{flow.number}/").content.decode()).step

    assert crew["by"] == merchant["by"] == "regulator" and regulator["by"] == "regulator"
    # a physical instruction for the crew: keep the goods isolated where they are, move nothing
    assert "隔离" in crew["text"] and "不要移动" in crew["text"] and "等待监管部门" in crew["text"]
    assert "下一步（您）" in regulator["text"]


@pytest.mark.parametrize(
    ("page", "words"),
    [
        ("/sales/new/", ["仍在监管仓内：需仓库人员先出仓交给您，才能销售。", "已售出：每个追溯码只能销售一次。"]),
        (None, ["已出仓：这件货物已离开监管仓。", "已被监管部门召回：不得出仓。"]),
    ],
)
def test_a_refused_scan_says_why_in_words_not_a_status(flow, web, clock, page, words):
    """The scan lists (sell, release) carry why a scanned code cannot be taken, per status of the
    code, for the script to show instead of 「当前不可操作：在仓」 (tests/e2e/test_e2e_field.py)."""
    flow.to("coded", clock)
    username = "merchant-a1" if page else "operator-1"
    html = web(username).get(page or f"/warehouse/release/{flow.number}/").content.decode()
    for text in words:
        assert text in html
