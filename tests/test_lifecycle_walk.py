"""The whole process over the API, step by step, as the people do it (SPEC §1, §3)."""

from datetime import datetime, timedelta

from batches.models import Event


def test_a_batch_walks_from_declaration_to_released_goods(flow, clock):
    draft = flow.declare()
    assert draft["status"] == "draft"
    assert draft["number"].startswith("MKT-A-")
    assert draft["merchant"]["name"] == "杭州望江服饰商行"
    assert [line["quantity"] for line in draft["lines"]] == [3, 2]
    assert draft["allowed_actions"] == ["edit", "submit"]

    assert flow.post("merchant-a1", "submit")["status"] == "submitted"
    approved = flow.post("reviewer-a", "approve", {"warehouse": "WH-1"})
    assert (approved["status"], approved["warehouse"]) == ("approved", "WH-1")

    assert flow.post("operator-1", "arrive", {"lines": flow.arrival()})["status"] == "pre_storage"
    disinfected = flow.post(
        "operator-1", "disinfect", {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}, expect=201
    )
    assert disinfected["disinfections"][0]["agent"] == "含氯消毒剂"

    resting = flow.post("operator-1", "move-to-resting")
    rest_until = datetime.fromisoformat(resting["rest_until"])
    rest_started = datetime.fromisoformat(resting["rest_started_at"])
    assert resting["status"] == "resting"
    assert rest_until - rest_started == timedelta(days=7)
    assert resting["rest_until"].endswith("+08:00")  # shown in Asia/Shanghai (R8)

    flow.sample()
    flow.result("negative")
    clock.shift(7 * 24 * 3600)
    from batches.tasks import sweep_due_rests

    assert sweep_due_rests() == 1
    assert flow.detail()["status"] == "rest_complete"
    assert flow.post("operator-1", "move-to-storage")["status"] == "stored"
    coded = flow.post("operator-1", "issue-codes")
    assert coded["status"] == "coded"
    assert coded["codes"]["total"] == 5 and coded["codes"]["in_warehouse"] == 5

    codes = flow.api("operator-1").get(f"/api/batches/{flow.number}/codes/").json()
    assert codes["count"] == 5
    first = codes["results"][0]
    partly = flow.post("operator-1", "release", {"codes": [first["token"]]})
    assert partly["status"] == "coded" and partly["codes"]["released"] == 1
    released = flow.post("operator-1", "release", {"all": True})
    assert released["status"] == "released" and released["codes"]["released"] == 5

    actions = list(Event.objects.filter(batch__number=flow.number).values_list("action", flat=True))
    assert actions == [
        "declare",
        "submit",
        "approve",
        "arrive",
        "disinfect",
        "move_to_resting",
        "sample",
        "test_result",
        "complete_rest",
        "move_to_storage",
        "issue_codes",
        "release",
        "release",
    ]
