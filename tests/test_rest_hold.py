"""The seven-day hold (R1, R3): `rest_until` is fixed when the batch enters resting, and only
the timer — the per-batch task or the sweep, both reading the deadline from the database —
ends the rest, at or after `rest_until`. Nothing a person can do shortens it."""

from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from batches import tasks
from batches.lifecycle import allowed_actions, complete_due_rests
from batches.models import Batch, Event, Role
from tests.conftest import MARKET_C

WEEK = 7 * 24 * 3600
USERS = ["merchant-a1", "reviewer-a", "operator-1", "regulator"]


def rest_until(detail):
    return datetime.fromisoformat(detail["rest_until"])


def completions(number):
    return Event.objects.filter(batch__number=number, action="complete_rest").count()


# --- rest_until ----------------------------------------------------------------------------


def test_entering_resting_fixes_rest_until_seven_days_ahead(flow, clock):
    flow.disinfected()
    entered = timezone.now()  # the clock stands still until the test moves it

    resting = flow.post("operator-1", "move-to-resting")

    assert resting["status"] == "resting"
    assert rest_until(resting) == entered + timedelta(seconds=WEEK)
    assert rest_until(resting) - datetime.fromisoformat(resting["rest_started_at"]) == timedelta(seconds=WEEK)
    assert resting["allowed_actions"] == ["sample", "test_result"]


def test_the_rest_period_is_read_from_the_settings(flow, clock, settings):
    settings.REST_PERIOD_SECONDS = 90 * 60
    flow.disinfected()

    resting = flow.post("operator-1", "move-to-resting")

    assert rest_until(resting) == timezone.now() + timedelta(minutes=90)
    clock.shift(90 * 60 - 1)
    assert tasks.sweep_due_rests() == 0
    clock.shift(1)
    assert tasks.sweep_due_rests() == 1


def test_the_timer_is_recorded_with_the_rest_and_handed_over_on_commit(flow, django_capture_on_commit_callbacks):
    """R3: the per-batch task is written to the outbox in the transaction that starts the rest,
    with eta=rest_until, and handed to the broker after the commit (the sweep backs it up)."""
    from config.reliability.models import OutboxMessage

    flow.disinfected()

    with django_capture_on_commit_callbacks() as callbacks:
        resting = flow.post("operator-1", "move-to-resting")

    (timer,) = OutboxMessage.objects.filter(task_name=tasks.complete_rest.name)
    assert timer.args == [Batch.objects.get(number=flow.number).pk]
    assert timer.eta == rest_until(resting)
    assert (timer.state, len(callbacks)) == ("pending", 1)  # the hand-over waits for the commit


# --- the gate while resting ----------------------------------------------------------------


@pytest.mark.parametrize("action", ["move-to-storage", "issue-codes"])
def test_asked_while_resting_the_answer_says_how_long_is_left(flow, clock, action):
    # given a resting batch with a negative test, two days into its rest
    resting = flow.resting()
    flow.sample()
    flow.result("negative")
    clock.shift(2 * 24 * 3600)

    # when the crew tries to move it on
    response = flow.api("operator-1").post(f"/api/batches/{flow.number}/{action}/", {}, format="json")

    # then 409 rest_not_complete, with the time the rest ends
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["status"]) == ("rest_not_complete", "resting")
    assert datetime.fromisoformat(body["rest_until"]) == rest_until(resting)
    assert "5 天" in body["detail"]
    assert flow.detail()["status"] == "resting"


# --- the per-batch timer -------------------------------------------------------------------


def test_the_timer_fired_early_does_nothing(flow, clock):
    flow.resting()
    batch_id = Batch.objects.get(number=flow.number).pk
    clock.shift(WEEK - 1)

    tasks.complete_rest.delay(batch_id)  # the queued timer, run in-process here
    assert tasks.complete_rest(batch_id) is False  # and its answer, called directly

    assert flow.detail()["status"] == "resting"
    assert completions(flow.number) == 0


def test_the_timer_at_rest_until_ends_the_rest_once(flow, clock):
    resting = flow.resting()
    batch_id = Batch.objects.get(number=flow.number).pk
    clock.move_to(rest_until(resting))

    tasks.complete_rest.delay(batch_id)
    assert flow.detail()["status"] == "rest_complete"
    assert tasks.complete_rest(batch_id) is False  # fired twice: nothing more

    assert flow.detail()["status"] == "rest_complete"
    event = Event.objects.get(batch__number=flow.number, action="complete_rest")
    assert (event.actor, event.role, event.status_before, event.status_after) == (
        None,
        Role.SYSTEM,
        "resting",
        "rest_complete",
    )
    assert event.at == rest_until(resting)


def test_the_timer_for_a_batch_that_is_no_longer_resting_does_nothing(flow, clock):
    flow.resting()
    flow.sample()
    flow.result("positive")
    clock.shift(WEEK)

    tasks.complete_rest.delay(Batch.objects.get(number=flow.number).pk)
    assert flow.detail()["status"] == "quarantined"


# --- the sweep -----------------------------------------------------------------------------


def test_the_sweep_moves_every_due_batch_and_no_other(flow, new_flow, clock):
    # given three batches that entered resting today (two warehouses) and two that entered two days later
    early = [new_flow(), new_flow(merchant="merchant-a2"), new_flow(**MARKET_C)]
    for batch in early:
        batch.resting()
    clock.shift(2 * 24 * 3600)
    late = [new_flow(), new_flow()]
    for batch in late:
        batch.resting()

    # when the sweep runs a week after the first three entered
    clock.shift(WEEK - 2 * 24 * 3600)
    moved = tasks.sweep_due_rests()

    # then exactly those three end their rest
    assert moved == 3
    assert [b.detail("regulator")["status"] for b in early] == ["rest_complete"] * 3
    assert [b.detail("regulator")["status"] for b in late] == ["resting"] * 2
    event = Event.objects.get(batch__number=early[2].number, action="complete_rest")
    assert (event.warehouse.code, event.zone, event.role) == ("WH-2", "resting", Role.SYSTEM)

    # and sweeping again changes nothing and writes no second event
    events = Event.objects.count()
    assert tasks.sweep_due_rests() == 0
    assert Event.objects.count() == events
    assert [completions(b.number) for b in early + late] == [1, 1, 1, 0, 0]


def test_the_sweep_works_in_bounded_chunks(new_flow, clock, settings):
    # given eight due batches and a sweep chunk of three
    settings.REST_SWEEP_BATCH_SIZE = 3
    batches = [new_flow() for _ in range(8)]
    for batch in batches:
        batch.resting()
    clock.shift(WEEK)

    # when single chunks run, each claims no more than its limit, in the same number of
    # queries whether it moves one batch or three
    with CaptureQueriesContext(connection) as one:
        assert complete_due_rests(limit=1) == 1
    with CaptureQueriesContext(connection) as three:
        assert complete_due_rests(limit=3) == 3
    assert len(one) == len(three)
    assert Batch.objects.filter(status="resting").count() == 4

    # then a sweep allowed one chunk moves REST_SWEEP_BATCH_SIZE batches and stops
    assert tasks.sweep_due_rests(max_chunks=1) == 3
    assert Batch.objects.filter(status="resting").count() == 1
    # and the next sweep finishes, every batch with exactly one event
    assert tasks.sweep_due_rests() == 1
    assert [completions(batch.number) for batch in batches] == [1] * 8


def test_the_sweep_catches_up_on_a_rest_that_ended_while_no_worker_ran(flow, clock):
    """R3: the deadline lives in the database; a batch due long ago moves on the first sweep."""
    flow.resting()
    clock.shift(WEEK + 3 * 24 * 3600)  # the worker was down for three days after rest_until

    assert tasks.sweep_due_rests() == 1

    assert flow.detail()["status"] == "rest_complete"


# --- nothing else ends a rest (R1) ---------------------------------------------------------


@pytest.mark.parametrize("path", ["complete-rest", "complete_rest", "end-rest", "rest-complete"])
def test_there_is_no_endpoint_that_ends_a_rest(flow, path):
    flow.resting()

    for username in ("operator-1", "regulator"):
        response = flow.api(username).post(f"/api/batches/{flow.number}/{path}/", {}, format="json")
        assert response.status_code in (404, 405), (username, response.status_code)

    assert flow.detail()["status"] == "resting"


def test_no_role_is_offered_an_action_that_ends_a_rest(flow):
    flow.resting()

    for username in USERS:
        offered = flow.detail(username)["allowed_actions"]
        assert "complete_rest" not in offered and "move_to_storage" not in offered, username
    for role in (Role.MERCHANT, Role.REVIEWER, Role.OPERATOR, Role.REGULATOR):
        assert "complete_rest" not in allowed_actions("resting", role)


ACTIONS = {
    "submit": {},
    "approve": {"warehouse": "WH-1"},
    "reject": {"reason": "x"},
    "revise": {},
    "return": {"reason": "x"},
    "disinfect": {"agent": "a", "concentration": "c", "method": "m"},
    "move-to-resting": {},
    "samples": {"sample_no": "S9", "lab": "lab"},
    "test-results": {"sample_no": "S1", "result": "invalid", "report_no": "R-9"},
    "move-to-storage": {},
    "issue-codes": {},
    "release": {"all": True},
    "redisinfect": {"reason": "x"},
    "destroy": {"reason": "x"},
}


def test_no_action_by_anyone_ends_a_rest_early(flow):
    # given a resting batch with a sample
    resting = flow.resting()
    flow.sample()

    # when every user tries every action of the API on it
    for username in USERS:
        for action, body in ACTIONS.items():
            flow.api(username).post(f"/api/batches/{flow.number}/{action}/", body, format="json")

    # then it is still resting until the same moment (an invalid result and a sample were recorded)
    after = flow.detail()
    assert (after["status"], after["rest_until"]) == ("resting", resting["rest_until"])
    assert completions(flow.number) == 0


def test_editing_a_resting_batch_is_refused(flow):
    resting = flow.resting()
    shorter = (rest_until(resting) - timedelta(days=6)).isoformat()
    patch = lambda who, body: flow.api(who).patch(f"/api/batches/{flow.number}/", body, format="json")  # noqa: E731

    assert patch("operator-1", {"rest_until": shorter}).status_code == 403
    assert patch("regulator", {"rest_until": shorter}).status_code == 403
    assert patch("merchant-a1", {"rest_until": shorter}).status_code == 400  # not an editable field
    assert patch("merchant-a1", {"status": "rest_complete"}).status_code == 400
    assert patch("merchant-a1", {"origin_country": "FR"}).status_code == 409  # nothing is editable now

    after = flow.detail()
    assert (after["status"], after["rest_until"], after["origin_country"]) == (
        "resting",
        resting["rest_until"],
        "IT",
    )


def test_the_admin_cannot_change_a_resting_batch(flow, admin_client):
    resting = flow.resting()
    batch = Batch.objects.get(number=flow.number)
    page = f"/admin/batches/batch/{batch.pk}/change/"

    # the page shows the batch read-only; a forged change is refused
    assert admin_client.get(page).status_code == 200
    response = admin_client.post(
        page,
        {"status": "rest_complete", "rest_until_0": "2020-01-01", "rest_until_1": "00:00:00", "number": batch.number},
    )
    assert response.status_code == 403
    # and the list offers no bulk action on batches (not even deletion)
    changelist = admin_client.post(
        "/admin/batches/batch/", {"action": "delete_selected", "_selected_action": [batch.pk], "post": "yes"}
    )
    assert changelist.status_code in (200, 302)
    assert admin_client.get("/admin/batches/batch/").context["action_form"] is None

    after = flow.detail()
    assert (after["status"], after["rest_until"]) == ("resting", resting["rest_until"])


def test_the_demo_seed_leaves_a_resting_batch_resting(flow):
    resting = flow.resting()

    call_command("seed_demo", password="demo-pass-123", stdout=StringIO())

    after = flow.detail()
    assert (after["status"], after["rest_until"]) == ("resting", resting["rest_until"])
    assert completions(flow.number) == 0


# --- a new rest after redisinfection -------------------------------------------------------


def test_resting_again_after_redisinfection_starts_a_full_new_rest(flow, clock):
    # given a batch quarantined five days into its first rest, then sent back to pre-storage
    first = flow.resting()
    flow.sample()
    clock.shift(5 * 24 * 3600)
    flow.result("positive")
    back = flow.post("regulator", "redisinfect", {"reason": "阳性，重新消毒"})
    assert (back["status"], back["rest_until"]) == ("pre_storage", None)

    # when it is disinfected again and enters resting a day later
    clock.shift(24 * 3600)
    flow.post("operator-1", "disinfect", {"agent": "过氧乙酸", "concentration": "0.5%", "method": "喷洒"}, expect=201)
    entered = timezone.now()
    second = flow.post("operator-1", "move-to-resting")

    # then its rest is a full new period from now, not what was left of the first
    assert rest_until(second) == entered + timedelta(seconds=WEEK)
    assert rest_until(second) > rest_until(first)
    # and the first rest's deadline no longer ends anything
    clock.move_to(rest_until(first))
    assert tasks.sweep_due_rests() == 0
    tasks.complete_rest.delay(Batch.objects.get(number=flow.number).pk)
    assert flow.detail()["status"] == "resting"
    clock.move_to(rest_until(second))
    assert tasks.sweep_due_rests() == 1


def test_the_time_left_is_said_in_whole_minutes_rounded_up():
    from datetime import timedelta

    from batches.services import rest_left_message

    assert rest_left_message(timedelta(seconds=20)) == "静置期未满，剩余 0 天 0 小时 1 分钟。"
    assert rest_left_message(timedelta(days=2, hours=3, seconds=1)) == "静置期未满，剩余 2 天 3 小时 1 分钟。"
    assert rest_left_message(timedelta(days=7)) == "静置期未满，剩余 7 天 0 小时 0 分钟。"
