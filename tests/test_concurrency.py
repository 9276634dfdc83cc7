"""Concurrency and idempotency (R7): two scanners acting on one batch at the same moment —
exactly one transition wins, the other gets 409, one event is written. Repeating an action
with the same `Idempotency-Key` returns the first answer and does nothing twice.

These tests commit for real (transactional_db) and fire requests from threads, each with its
own database connection: SELECT ... FOR UPDATE on PostgreSQL, IMMEDIATE transactions on SQLite."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from batches.lifecycle import complete_due_rests, complete_rest
from batches.models import Batch, Code, Disinfection, Event, IdempotencyRecord
from markets.accounts.tokens import token_issue
from tests.conftest import declaration

pytestmark = pytest.mark.django_db(transaction=True)

DISINFECTION = {"agent": "含氯消毒剂", "concentration": "500 mg/L", "method": "喷洒"}


def client_for(username):
    client = APIClient()
    token = token_issue(user=get_user_model().objects.get(username=username))[1]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def at_once(*requests):
    """Run the requests in threads released together by a barrier; returns their responses."""
    barrier = threading.Barrier(len(requests))
    responses = [None] * len(requests)
    errors = []

    def run(index, request):
        try:
            barrier.wait(timeout=30)
            responses[index] = request()
        except Exception as exc:  # reported to the test below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return responses


def post(username, path, body=None, **headers):
    client = client_for(username)  # made here, before the race, in the main thread
    return lambda: client.post(path, body or {}, format="json", **headers)


def events(number, action):
    return Event.objects.filter(batch__number=number, action=action).count()


# --- one transition, two scanners ----------------------------------------------------------


@pytest.mark.parametrize(
    "status, who, action, event",
    [
        ("draft", "merchant-a1", "submit", "submit"),
        ("submitted", "reviewer-a", "approve", "approve"),
        ("pre_storage", "operator-1", "move-to-resting", "move_to_resting"),
        ("rest_complete", "operator-1", "move-to-storage", "move_to_storage"),
        ("stored", "operator-1", "issue-codes", "issue_codes"),
    ],
)
def test_two_scanners_fire_the_same_transition_and_exactly_one_wins(flow, clock, status, who, action, event):
    # given a batch where the action is allowed (and disinfected, for move-to-resting)
    flow.to(status, clock)
    if status == "pre_storage":
        flow.post("operator-1", "disinfect", DISINFECTION, expect=201)
    body = {"warehouse": "WH-1"} if action == "approve" else {}
    url = f"/api/batches/{flow.number}/{action}/"

    # when two requests for it arrive at the same moment
    responses = at_once(post(who, url, body), post(who, url, body))

    # then one wins and the other is told the batch has moved on
    assert sorted(r.status_code for r in responses) == [200, 409], [r.content for r in responses]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["code"] == "invalid_transition"
    assert events(flow.number, event) == 1
    if action == "issue-codes":
        assert Batch.objects.get(number=flow.number).codes.count() == 5


def test_two_operators_checking_the_same_arrival_at_once_record_one_check(flow):
    flow.approved()
    url = f"/api/batches/{flow.number}/arrive/"
    body = {"lines": flow.arrival()}

    responses = at_once(post("operator-1", url, body), post("operator-1", url, body))

    assert sorted(r.status_code for r in responses) == [200, 409]
    assert events(flow.number, "arrive") == 1
    assert Batch.objects.get(number=flow.number).status == "pre_storage"


def test_two_mismatching_arrival_checks_at_once_record_one_check_not_a_recheck(flow):
    # A mismatch leaves the batch in `discrepancy`, from which `arrive` is allowed again (a
    # re-check): without the status the scanners saw, the loser would count as that re-check.
    flow.approved()
    url = f"/api/batches/{flow.number}/arrive/"
    body = {"lines": flow.arrival(short_by=1), "status": "approved"}

    responses = at_once(post("operator-1", url, body), post("operator-1", url, body))

    assert sorted(r.status_code for r in responses) == [200, 409], [r.content for r in responses]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert (loser["code"], loser["status"]) == ("invalid_transition", "discrepancy")
    assert events(flow.number, "arrive") == 1
    assert Batch.objects.get(number=flow.number).status == "discrepancy"


def test_merchants_declaring_at_once_get_distinct_numbers(api):
    responses = at_once(*(post(user, "/api/batches/", declaration()) for user in ("merchant-a1", "merchant-a2") * 2))

    assert [r.status_code for r in responses] == [201] * 4
    numbers = [r.json()["number"] for r in responses]
    assert len(set(numbers)) == 4
    assert sorted(n[-4:] for n in numbers) == ["0001", "0002", "0003", "0004"]


# --- Idempotency-Key -----------------------------------------------------------------------


def test_a_repeated_request_with_the_same_key_is_answered_from_the_first(flow):
    flow.pre_storage()
    client = client_for("operator-1")
    url = f"/api/batches/{flow.number}/disinfect/"

    first = client.post(url, DISINFECTION, format="json", HTTP_IDEMPOTENCY_KEY="scan-7f3a")
    again = client.post(url, DISINFECTION, format="json", HTTP_IDEMPOTENCY_KEY="scan-7f3a")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Disinfection.objects.filter(batch__number=flow.number).count() == 1
    assert events(flow.number, "disinfect") == 1


def test_a_repeated_transition_replays_its_success_not_a_409(flow):
    flow.declare()
    client = client_for("merchant-a1")
    url = f"/api/batches/{flow.number}/submit/"

    first = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="submit-1")
    again = client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="submit-1")
    without_key = client.post(url, {}, format="json")

    assert (first.status_code, again.status_code, without_key.status_code) == (200, 200, 409)
    assert again.json() == first.json()
    assert events(flow.number, "submit") == 1


def test_a_repeated_declaration_creates_one_batch(api):
    client = client_for("merchant-a1")

    first = client.post("/api/batches/", declaration(), format="json", HTTP_IDEMPOTENCY_KEY="declare-1")
    again = client.post("/api/batches/", declaration(), format="json", HTTP_IDEMPOTENCY_KEY="declare-1")

    assert first.status_code == again.status_code == 201
    assert again.json()["number"] == first.json()["number"]
    assert Batch.objects.count() == 1


def test_the_same_key_with_a_different_request_is_refused(flow):
    flow.pre_storage()
    client = client_for("operator-1")
    url = f"/api/batches/{flow.number}/disinfect/"
    client.post(url, DISINFECTION, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    other_body = client.post(url, {**DISINFECTION, "agent": "过氧乙酸"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other_action = client.post(
        f"/api/batches/{flow.number}/move-to-resting/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert other_body.status_code == other_action.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    assert Disinfection.objects.filter(batch__number=flow.number).count() == 1
    assert Batch.objects.get(number=flow.number).status == "pre_storage"


def test_keys_belong_to_their_user(api):
    first = client_for("merchant-a1").post("/api/batches/", declaration(), format="json", HTTP_IDEMPOTENCY_KEY="same")
    second = client_for("merchant-a2").post("/api/batches/", declaration(), format="json", HTTP_IDEMPOTENCY_KEY="same")

    assert first.status_code == second.status_code == 201
    assert first.json()["number"] != second.json()["number"]
    assert not second.has_header("Idempotent-Replayed")


def test_a_refused_first_answer_is_replayed_too(flow):
    flow.declare()
    client = client_for("reviewer-a")
    url = f"/api/batches/{flow.number}/approve/"

    first = client.post(url, {"warehouse": "WH-1"}, format="json", HTTP_IDEMPOTENCY_KEY="approve-1")
    flow.post("merchant-a1", "submit")
    again = client.post(url, {"warehouse": "WH-1"}, format="json", HTTP_IDEMPOTENCY_KEY="approve-1")

    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert flow.detail()["status"] == "submitted"


def test_two_requests_with_the_same_key_at_once_act_once(flow):
    flow.pre_storage()
    url = f"/api/batches/{flow.number}/disinfect/"

    responses = at_once(
        post("operator-1", url, DISINFECTION, HTTP_IDEMPOTENCY_KEY="double-tap"),
        post("operator-1", url, DISINFECTION, HTTP_IDEMPOTENCY_KEY="double-tap"),
    )

    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].json() == responses[1].json()
    assert sum(r.has_header("Idempotent-Replayed") for r in responses) == 1
    assert Disinfection.objects.filter(batch__number=flow.number).count() == 1
    assert events(flow.number, "disinfect") == 1
    assert IdempotencyRecord.objects.filter(key="double-tap").count() == 1


# --- the timer and the sweep ---------------------------------------------------------------


def test_the_timer_and_the_sweep_firing_at_once_end_the_rest_once(flow):
    resting = Batch.objects.get(number=flow.resting()["number"])
    due = resting.rest_until + timedelta(seconds=1)

    moved = at_once(lambda: complete_rest(resting.pk, now=due), lambda: complete_due_rests(now=due))

    assert sorted(map(int, moved)) == [0, 1]  # one of them moved it, the other found nothing to do
    assert Batch.objects.get(pk=resting.pk).status == "rest_complete"
    assert events(flow.number, "complete_rest") == 1


def test_two_sweepers_never_move_the_same_batch(new_flow):
    flows = [new_flow() for _ in range(6)]
    for batch in flows:
        batch.resting()
    due = Batch.objects.order_by("-rest_until").first().rest_until + timedelta(seconds=1)

    moved = at_once(lambda: complete_due_rests(now=due, limit=4), lambda: complete_due_rests(now=due, limit=4))

    assert sum(moved) == 6 and max(moved) == 4
    assert Batch.objects.filter(status="rest_complete").count() == 6
    assert [events(batch.number, "complete_rest") for batch in flows] == [1] * 6


# --- a seal and a sale at the same moment ----------------------------------------------------


def test_a_sale_that_waited_for_the_batch_while_it_was_sealed_is_refused(flow, clock):
    from batches.models import Seal

    codes = flow.released(clock)
    batch = Batch.objects.get(number=flow.number)
    regulator = get_user_model().objects.get(username="regulator")
    sell = post(
        "merchant-a1",
        "/api/sales/",
        {"codes": [codes[0]["token"]], "buyer_name": "王小姐", "buyer_phone": "13912345678", "buyer_kind": "consumer"},
    )
    sealing = threading.Event()
    answers, errors = [], []

    def seal():  # as a seal is made: under the batch's row lock, committed a moment later
        try:
            from django.db import transaction

            with transaction.atomic():
                Batch.objects.select_for_update().get(pk=batch.pk)
                Seal.objects.create(batch=batch, sealed_at=batch.updated_at, sealed_by=regulator)
                sealing.set()
                threading.Event().wait(1.0)  # the sale now waits for the batch's lock
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sale():
        try:
            sealing.wait(timeout=30)
            answers.append(sell())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=seal), threading.Thread(target=sale)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    (answer,) = answers
    assert answer.status_code == 409 and answer.json()["code"] == "sealed", answer.content
    assert Code.objects.get(token=codes[0]["token"]).status == "released"


def test_a_seal_begun_before_a_sale_it_did_not_stop_is_timed_after_it(flow, monkeypatch):
    """A regulator starts sealing; a sale that started later takes the batch's lock first and is
    recorded. The seal, which waited for the lock, must not read as earlier than that sale
    (its time is taken under the lock), or the record would look like a sale through a seal."""
    import time_machine
    from django.utils import timezone

    import batches.incidents
    import markets.services
    from batches.actors import actor_for
    from batches.models import Incident, Seal
    from markets.models import Sale
    from tests.conftest import Flow

    # Walked in the past, so that the real clock runs on while the two race
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=False) as clock:
        sold, positive = flow, Flow(flow.api)
        sold.pre_storage()
        positive.pre_storage()  # the same day, the same warehouse: a co-located lot
        sold.post("operator-1", "disinfect", DISINFECTION, 201)
        sold.post("operator-1", "move-to-resting")
        sold.sample()
        sold.result("negative")
        clock.shift(7 * 24 * 3600 + 1)
        complete_due_rests()
        sold.post("operator-1", "move-to-storage")
        sold.post("operator-1", "issue-codes")
        sold.post("operator-1", "release", {"all": True})
        codes = sold.codes()
        positive.post("operator-1", "disinfect", DISINFECTION, 201)
        positive.post("operator-1", "move-to-resting")
        positive.sample()
        positive.result("positive")
    incident = Incident.objects.get(batch__number=positive.number)
    regulator = actor_for(get_user_model().objects.get(username="regulator"))
    sell = post(
        "merchant-a1",
        "/api/sales/",
        {"codes": [codes[0]["token"]], "buyer_name": "王小姐", "buyer_phone": "13912345678", "buyer_kind": "consumer"},
    )
    seal_begun, sale_holds_lock = threading.Event(), threading.Event()
    lots, sealed_ids = batches.incidents._lots_by_number, markets.services.sealed_batch_ids

    def lots_then_wait(*args, **kwargs):  # the seal has begun, and is slow to reach the lock
        found = lots(*args, **kwargs)
        seal_begun.set()
        sale_holds_lock.wait(timeout=30)
        return found

    def sealed_then_hold(*args, **kwargs):  # the sale, under the batch's lock, takes its time
        found = sealed_ids(*args, **kwargs)
        sale_holds_lock.set()
        threading.Event().wait(0.5)
        return found

    monkeypatch.setattr(batches.incidents, "_lots_by_number", lots_then_wait)
    monkeypatch.setattr(markets.services, "sealed_batch_ids", sealed_then_hold)

    def seal():
        return batches.incidents.incident_seal(incident=incident, actor=regulator, numbers=[sold.number])

    def sale():
        seal_begun.wait(timeout=30)
        return sell()

    sealed, answer = at_once(seal, sale)

    assert answer.status_code == 201, answer.content  # the sale came first: not stopped
    assert [batch.number for batch in sealed] == [sold.number]
    seal_row = Seal.objects.get(batch__number=sold.number)
    sale_row = Sale.objects.get(pk=answer.json()["id"])
    assert seal_row.sealed_at >= sale_row.sold_at
    sale_event, seal_event = Event.objects.filter(batch__number=sold.number, action__in=("sale", "seal")).order_by("id")
    assert (sale_event.action, seal_event.action) == ("sale", "seal") and seal_event.at >= sale_event.at
