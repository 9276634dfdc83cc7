"""R1, time is the truth: once rest_until has passed the rest is over whether or not the timer
has run. An action that needs the rest complete ends it first (the same `complete_rest` event by
the system, in the same transaction); the timer or sweep arriving later changes nothing."""

from datetime import datetime, timedelta

from batches import tasks
from batches.models import Batch, Event

WEEK = 7 * 24 * 3600


def actions(number):
    return list(Event.objects.filter(batch__number=number).order_by("id").values_list("action", flat=True))


def resting_with_a_negative(flow):
    resting = flow.resting()
    flow.sample()
    flow.result("negative")
    return datetime.fromisoformat(resting["rest_until"])


def test_with_the_worker_stopped_move_to_storage_after_rest_until_ends_the_rest_and_stores(flow, clock):
    # given a resting batch with a negative result, and no worker or beat running
    rest_until = resting_with_a_negative(flow)

    # when the crew moves it to storage a minute after rest_until, before any timer or sweep
    clock.move_to(rest_until + timedelta(minutes=1))
    stored = flow.post("operator-1", "move-to-storage")

    # then it is stored, after exactly one complete_rest by the system
    assert stored["status"] == "stored"
    assert actions(flow.number)[-2:] == ["complete_rest", "move_to_storage"]
    rest = Event.objects.get(batch__number=flow.number, action="complete_rest")
    assert (rest.actor, rest.role, rest.status_before, rest.status_after) == (
        None,
        "system",
        "resting",
        "rest_complete",
    )
    assert rest.details["by"] == "move_to_storage"
    assert datetime.fromisoformat(rest.details["rest_until"]) == rest_until

    # and the timer and the sweep, arriving later, write nothing
    events = Event.objects.count()
    assert tasks.complete_rest(Batch.objects.get(number=flow.number).pk) is False
    assert tasks.sweep_due_rests() == 0
    assert Event.objects.count() == events
    assert flow.detail()["status"] == "stored"


def test_before_rest_until_move_to_storage_still_answers_rest_not_complete(flow, clock):
    rest_until = resting_with_a_negative(flow)

    clock.move_to(rest_until - timedelta(seconds=1))
    response = flow.api("operator-1").post(f"/api/batches/{flow.number}/move-to-storage/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "rest_not_complete"
    assert datetime.fromisoformat(response.json()["rest_until"]) == rest_until
    assert "complete_rest" not in actions(flow.number)

    clock.move_to(rest_until)  # at rest_until exactly, the rest is over (R2: now >= rest_until)
    assert flow.post("operator-1", "move-to-storage")["status"] == "stored"


def test_past_rest_until_the_detail_the_list_and_the_scan_tell_the_truth_and_write_nothing(flow, clock):
    rest_until = resting_with_a_negative(flow)
    clock.move_to(rest_until + timedelta(seconds=1))
    events = Event.objects.count()

    detail = flow.detail("operator-1")
    assert (detail["status"], detail["status_display"]) == ("rest_complete", "静置期满")
    assert "move_to_storage" in detail["allowed_actions"]
    scanned = flow.api("operator-1").get(f"/api/scan/{flow.number}/").json()
    assert "move_to_storage" in scanned["allowed_actions"]

    def listed(status):
        return [b["number"] for b in flow.api("operator-1").get(f"/api/batches/?status={status}").json()["results"]]

    assert flow.number in listed("rest_complete") and flow.number not in listed("resting")

    # reading changed nothing: the record still waits for the timer, the sweep or an action
    assert Event.objects.count() == events
    assert Batch.objects.get(number=flow.number).status == "resting"
    assert tasks.sweep_due_rests() == 1


def test_before_rest_until_the_detail_still_says_resting(flow, clock):
    rest_until = resting_with_a_negative(flow)
    clock.move_to(rest_until - timedelta(seconds=1))

    detail = flow.detail("operator-1")

    assert detail["status"] == "resting" and "move_to_storage" not in detail["allowed_actions"]
    listed = [b["number"] for b in flow.api("operator-1").get("/api/batches/?status=resting").json()["results"]]
    assert flow.number in listed


def test_a_positive_result_after_rest_until_ends_the_rest_first_then_quarantines(flow, clock):
    rest_until = resting_with_a_negative(flow)
    flow.sample("S2")
    clock.move_to(rest_until + timedelta(hours=2))

    flow.result("positive", sample_no="S2", report_no="POS-2")

    assert flow.detail("regulator")["status"] == "quarantined"
    # (the positive result then opens the batch's incident: a record, no move)
    assert actions(flow.number)[-3:] == ["complete_rest", "test_result", "incident_open"]
    assert tasks.sweep_due_rests() == 0
    assert actions(flow.number).count("complete_rest") == 1


def test_a_refused_gate_after_rest_until_writes_nothing_and_the_sweep_still_ends_the_rest_once(flow, clock):
    # given a batch past rest_until whose only result is invalid
    resting = flow.resting()
    flow.sample()
    flow.result("invalid")
    clock.move_to(datetime.fromisoformat(resting["rest_until"]) + timedelta(minutes=5))
    events = Event.objects.count()

    # when the crew tries to store it
    response = flow.api("operator-1").post(f"/api/batches/{flow.number}/move-to-storage/", {}, format="json")

    # then the gate refuses it for the missing negative, in the status it truly has, and nothing is written
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["status"]) == ("no_negative_result", "rest_complete")
    assert Event.objects.count() == events
    # and the sweep then records the end of the rest, once
    assert tasks.sweep_due_rests() == 1
    assert actions(flow.number).count("complete_rest") == 1


def test_past_rest_until_the_regulators_trace_of_the_batch_tells_the_truth_too(flow, clock):
    # given a resting batch whose rest_until has passed, before any timer or sweep
    rest_until = resting_with_a_negative(flow)
    clock.move_to(rest_until + timedelta(minutes=1))
    events = Event.objects.count()

    # when the regulator traces it
    traced = flow.api("regulator").get(f"/api/trace/batches/{flow.number}/").json()

    # then the trace's batch says what the detail says, and reading wrote nothing
    assert traced["batch"]["status"] == flow.detail("regulator")["status"] == "rest_complete"
    assert Event.objects.count() == events
