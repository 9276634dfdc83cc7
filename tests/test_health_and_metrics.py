"""/healthz answers per component and turns 503 when the rest sweep has not completed within
3 × REST_SWEEP_SECONDS (after a start-up grace); /metrics serves Prometheus figures to the
bureau's monitoring only."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from batches import tasks
from config.reliability.models import Heartbeat, OutboxMessage
from warehouse.models import LabelJob

SWEEP = 60  # REST_SWEEP_SECONDS in these tests


@pytest.fixture(autouse=True)
def sweep_every_minute(settings):
    settings.REST_SWEEP_SECONDS = SWEEP


def health(client):
    response = client.get("/healthz")
    return response.status_code, response.json()


# --- /healthz -----------------------------------------------------------------------------


def test_healthz_answers_per_component(client, db, clock):
    tasks.sweep_due_rests()
    clock.shift(30)

    status, body = health(client)

    assert status == 200
    assert (body["status"], body["database"], body["broker"]) == ("ok", "ok", "ok")
    assert body["beat"]["status"] == "ok" and body["beat"]["age_seconds"] == 30.0
    assert body["beat"]["max_age_seconds"] == 3 * SWEEP
    assert body["outbox"] == {"status": "ok", "pending": 0, "failed": 0, "oldest_due_seconds": None}


def test_healthz_answers_503_when_the_last_sweep_is_older_than_three_intervals(client, db, clock):
    # given a sweep that completed, then a beat that died
    tasks.sweep_due_rests()

    # then it is healthy up to three intervals later
    clock.shift(3 * SWEEP)
    assert health(client)[0] == 200
    # and unavailable just after, saying which component and since when
    clock.shift(1)
    status, body = health(client)
    assert status == 503
    assert (body["status"], body["database"], body["broker"]) == ("unavailable", "ok", "ok")
    assert body["beat"]["status"] == "stale" and body["beat"]["age_seconds"] == 3 * SWEEP + 1
    # when the beat is back and a sweep completes, healthy again
    tasks.sweep_due_rests()
    assert health(client)[0] == 200


def test_a_sweep_by_another_process_is_seen(client, db, clock):
    """Any beat or worker on any machine: the completion is a database row every process reads."""
    Heartbeat.objects.create(
        name="rest_sweep",
        first_seen_at=timezone.now() - timedelta(days=1),
        last_completed_at=timezone.now() - timedelta(seconds=10),
        last_host="worker-2:4242",
    )

    status, body = health(client)

    assert status == 200 and body["beat"]["age_seconds"] == 10.0


def test_a_new_system_gets_three_intervals_of_grace_before_its_first_sweep(client, db, clock):
    # given a fresh installation where no sweep has ever completed
    assert not Heartbeat.objects.exists()

    # the first look starts the grace and reports the beat as starting
    status, body = health(client)
    assert status == 200 and body["beat"]["status"] == "starting" and body["beat"]["last_sweep"] is None
    clock.shift(3 * SWEEP)
    assert health(client)[1]["beat"]["status"] == "starting"

    # past the grace with still no sweep: 503
    clock.shift(1)
    status, body = health(client)
    assert status == 503 and body["beat"]["status"] == "stale"

    # the first sweep makes it healthy
    tasks.sweep_due_rests()
    assert health(client)[0] == 200


def test_healthz_reports_the_outbox_backlog_and_failures(client, db, clock, settings):
    settings.OUTBOX_MAX_LAG_SECONDS = 300
    tasks.sweep_due_rests()
    OutboxMessage.objects.create(task_name="batches.tasks.complete_rest", args=[1])
    OutboxMessage.objects.create(task_name="batches.tasks.send_alert_email", state="failed")
    clock.shift(301)
    tasks.sweep_due_rests()

    status, body = health(client)

    # a lagging relay is reported (for an alert), it does not take the web servers out of service
    assert status == 200
    assert body["outbox"] == {"status": "lagging", "pending": 1, "failed": 1, "oldest_due_seconds": 301.0}


# --- /metrics -----------------------------------------------------------------------------


def scrape(client=None, **extra):
    return (client or Client()).get("/metrics", **extra)


def value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{sample} not in metrics:\n{text}")


def test_metrics_count_batches_overdue_rests_the_outbox_and_label_jobs(flow, new_flow, clock, settings):
    # given two resting batches, one of them past rest_until (its timer not run), and a draft
    flow.resting()
    clock.shift(2 * 24 * 3600)
    later = new_flow()
    later.resting()
    new_flow().declare()
    clock.shift(5 * 24 * 3600 + 1)
    OutboxMessage.objects.create(task_name="batches.tasks.send_alert_email", state="failed")
    LabelJob.objects.create(batch_id=later_batch_id(later), total=600)
    scrape(Client())  # one request already counted

    text = scrape().content.decode()

    assert value(text, 'warehouse_batches{status="resting"}') == 2
    assert value(text, 'warehouse_batches{status="draft"}') == 1
    assert value(text, 'warehouse_batches{status="stored"}') == 0
    assert value(text, "warehouse_rests_overdue") == 1
    assert value(text, "warehouse_outbox_backlog") == 2  # the two timers, never handed over in this test
    assert value(text, "warehouse_outbox_failed") == 1
    assert value(text, 'warehouse_outbox_messages{state="pending"}') == 2
    assert value(text, 'warehouse_label_jobs{state="pending"}') == 1
    assert value(text, "warehouse_rest_sweep_last_completed_timestamp_seconds") == 0
    # and the requests and their latency, from django-prometheus
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in text
    assert 'django_http_responses_total_by_status_total{status="200"}' in text


def later_batch_id(flow):
    from batches.models import Batch

    return Batch.objects.get(number=flow.number).pk


def test_metrics_answer_only_allowed_addresses(db, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["127.0.0.1", "::1", "10.8.0.0/24"]

    assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 200
    assert scrape(REMOTE_ADDR="10.8.0.17").status_code == 200
    assert scrape(REMOTE_ADDR="203.0.113.9").status_code == 404
    # through a reverse proxy that was not declared ours, the proxy's loopback address does not count
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    settings.PUBLIC_VERIFY_TRUSTED_PROXIES = 1
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.8.0.5").status_code == 200


def test_metrics_with_a_token_need_it_as_a_bearer(db, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "s3cret-metrics-token", []

    assert scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 200
    assert scrape(REMOTE_ADDR="203.0.113.9").status_code == 404
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Token s3cret-metrics-token").status_code == 404

    # with both rules, both must hold
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    assert scrape(REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 200
    assert scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 404


def test_metrics_are_closed_to_everyone_when_no_rule_is_set(db, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []

    assert scrape(REMOTE_ADDR="127.0.0.1").status_code == 404


def test_a_signed_in_user_of_the_system_gets_no_metrics_from_outside(api, settings):
    response = api("regulator").get("/metrics", REMOTE_ADDR="198.51.100.4")

    assert response.status_code == 404
