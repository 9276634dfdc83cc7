"""Nothing is lost when the broker is away: every task a service starts is written to the
outbox in the same transaction as the change, the action answers its normal 2xx, and the relay
hands the work over when the broker is back, where it runs exactly once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from batches import tasks
from batches.models import Batch, Event, TestResult
from config.celery import app as celery_app
from config.reliability.models import OutboxMessage
from config.reliability.outbox import relay_due
from warehouse.models import LabelJob

CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def broker(settings):
    """`broker.down()` points the app at a closed port and sends for real (no eager shortcut);
    `broker.back()` restores the configured broker and runs handed-over tasks in-process, as a
    worker would (a real worker is started in test_celery_worker.py)."""

    class Broker:
        url = settings.CELERY_BROKER_URL

        def down(self):
            settings.CELERY_BROKER_URL = CLOSED_PORT
            celery_app.conf.task_always_eager = False

        def back(self):
            settings.CELERY_BROKER_URL = self.url
            celery_app.conf.task_always_eager = True

    return Broker()


def relay(expect_exit=None) -> str:
    out, err = StringIO(), StringIO()
    if expect_exit is None:
        call_command("outbox_relay", "--once", stdout=out, stderr=err)
    else:
        with pytest.raises(SystemExit) as exit_:
            call_command("outbox_relay", "--once", stdout=out, stderr=err)
        assert exit_.value.code == expect_exit
    return out.getvalue() + err.getvalue()


def messages(task) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(task_name=task.name).order_by("created_at"))


def completions(number):
    return Event.objects.filter(batch__number=number, action="complete_rest").count()


# --- the rest timer -----------------------------------------------------------------------


def test_move_to_resting_answers_200_while_the_broker_is_away_and_the_timer_runs_once_when_it_is_back(
    flow, clock, broker, django_capture_on_commit_callbacks
):
    # given a disinfected batch and a broker that cannot be reached
    flow.disinfected()
    broker.down()

    # when the crew moves it to resting (the hand-over after the commit fails)
    with django_capture_on_commit_callbacks(execute=True):
        resting = flow.post("operator-1", "move-to-resting")

    # then the answer is the normal one and the timer waits in the outbox, not lost
    assert resting["status"] == "resting"
    (timer,) = messages(tasks.complete_rest)
    assert (timer.state, timer.attempts, timer.args) == ("pending", 0, [Batch.objects.get(number=flow.number).pk])
    # and a relay pass while the broker is still away changes nothing and says so
    assert "broker unavailable" in relay(expect_exit=1)
    timer.refresh_from_db()
    assert (timer.state, timer.attempts) == ("pending", 0)

    # when the broker is back after rest_until, the relay hands the timer over
    clock.shift(7 * 24 * 3600)
    broker.back()
    assert "sent 1" in relay()

    # then the rest ends exactly once, and the outbox row is done
    assert flow.detail()["status"] == "rest_complete"
    assert completions(flow.number) == 1
    timer.refresh_from_db()
    assert timer.state == "done"
    # and a second delivery of the same message (the broker redelivers) does nothing
    tasks.complete_rest.apply(args=timer.args, task_id=str(timer.pk))
    assert completions(flow.number) == 1
    assert relay() == "sent 0, retrying 0, failed 0\n"


# --- the quarantine alert -----------------------------------------------------------------


def test_a_positive_result_answers_201_while_the_broker_is_away_and_the_alert_is_mailed_once(
    flow, broker, mailoutbox, django_capture_on_commit_callbacks
):
    flow.resting()
    flow.sample()
    broker.down()
    body = {"sample_no": "S1", "result": "positive", "report_no": "HZCDC-POS-7"}
    key = {"Idempotency-Key": "result-S1-positive"}

    # when the positive result is recorded while the broker is away
    with django_capture_on_commit_callbacks(execute=True):
        first = flow.api("operator-1").post(
            f"/api/batches/{flow.number}/test-results/", body, format="json", headers=key
        )

    # then it is recorded, the batch is quarantined and the regulator sees the alert in the app
    assert first.status_code == 201
    assert flow.detail("regulator")["status"] == "quarantined"
    assert flow.api("regulator").get("/api/notifications/").json()["count"] == 1
    # while the e-mail waits in the outbox
    assert mailoutbox == []
    (alert,) = messages(tasks.send_alert_email)
    assert alert.state == "pending" and sorted(alert.kwargs["recipients"]) == [
        "regulator-city@example.cn",
        "regulator@example.cn",
    ]

    # and the client's retry with the same key replays the first answer and records nothing twice
    with django_capture_on_commit_callbacks(execute=True):
        again = flow.api("operator-1").post(
            f"/api/batches/{flow.number}/test-results/", body, format="json", headers=key
        )
    assert (again.status_code, again.json()) == (201, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert TestResult.objects.filter(sample__batch__number=flow.number).count() == 1
    assert len(messages(tasks.send_alert_email)) == 1

    # when the broker is back, the relay hands the alert over: one mail
    broker.back()
    relay()
    assert len(mailoutbox) == 1 and flow.number in mailoutbox[0].subject
    alert.refresh_from_db()
    assert alert.state == "done"

    # and delivered twice (relay died before marking the row, or acks_late), it is not sent again
    tasks.send_alert_email.apply(kwargs=alert.kwargs, task_id=str(alert.pk))
    assert len(mailoutbox) == 1


def test_a_refusing_mail_server_is_tried_again_with_backoff_then_the_alert_is_kept_as_failed_until_sent_again(
    flow, clock, settings, mailoutbox, admin_client, admin_user
):
    # given a quarantine alert in the outbox and a mail server that refuses connections
    settings.OUTBOX_MAX_ATTEMPTS, settings.OUTBOX_RETRY_SECONDS = 3, 10
    flow.resting()
    flow.sample()
    flow.result("positive")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    (alert,) = messages(tasks.send_alert_email)

    # when the relay hands it over, the task fails and waits 10 s, then 20 s, then gives up
    relay()
    alert.refresh_from_db()
    assert (alert.state, alert.attempts) == ("pending", 1)
    assert alert.next_attempt_at == timezone.now() + timedelta(seconds=10)
    assert "ConnectionRefusedError" in alert.last_error
    clock.shift(9)
    assert relay_due().claimed == 0
    clock.shift(1)
    relay()
    alert.refresh_from_db()
    assert (alert.state, alert.attempts, alert.next_attempt_at) == (
        "pending",
        2,
        timezone.now() + timedelta(seconds=20),
    )
    clock.shift(20)
    relay()
    alert.refresh_from_db()
    assert (alert.state, alert.attempts) == ("failed", 3)
    clock.shift(24 * 3600)
    assert relay_due().claimed == 0  # a failed row waits for a person; it is never dropped
    assert mailoutbox == []
    # and it stays visible in the admin's list of failed rows (a day later the administrator
    # signs in again: a web session lasts a shift, SESSION_TTL_HOURS)
    admin_client.force_login(admin_user)
    listed = admin_client.get("/admin/reliability/outboxmessage/?state__exact=failed")
    assert listed.status_code == 200 and str(alert.pk) in listed.content.decode()

    # when the mail server is back and an administrator sends the row again
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    answer = admin_client.post(
        "/admin/reliability/outboxmessage/", {"action": "send_again", "_selected_action": [str(alert.pk)]}
    )
    assert answer.status_code == 302
    relay()

    # then the regulators get the mail, once
    assert len(mailoutbox) == 1
    alert.refresh_from_db()
    assert (alert.state, alert.attempts) == ("done", 0)


# --- label jobs ---------------------------------------------------------------------------


def test_a_label_job_asked_while_the_broker_is_away_is_built_when_it_is_back(
    api, flow, clock, settings, broker, django_capture_on_commit_callbacks
):
    settings.LABELS_SYNC_MAX = 2
    flow.coded(clock)
    broker.down()

    with django_capture_on_commit_callbacks(execute=True):
        asked = api("operator-1").get(f"/api/batches/{flow.number}/labels.pdf")

    assert asked.status_code == 202 and asked.json()["state"] == "pending"
    (job_message,) = messages(tasks_build_label_sheet())
    assert job_message.args == [asked.json()["id"]] and job_message.state == "pending"

    broker.back()
    relay()

    job = LabelJob.objects.get(pk=asked.json()["id"])
    assert (job.state, job.done) == ("done", 5)
    job_message.refresh_from_db()
    assert job_message.state == "done"


def tasks_build_label_sheet():
    from warehouse.tasks import build_label_sheet

    return build_label_sheet


# --- the relay's own rules ----------------------------------------------------------------


def test_nothing_is_recorded_when_the_action_is_refused(flow, broker, django_capture_on_commit_callbacks):
    flow.pre_storage()  # not disinfected: move_to_resting is refused
    broker.down()

    with django_capture_on_commit_callbacks(execute=True):
        flow.post("operator-1", "move-to-resting", expect=409)

    assert OutboxMessage.objects.count() == 0


def test_a_message_that_cannot_be_published_backs_off_and_is_kept_as_failed_after_the_last_attempt(db, clock, settings):
    settings.OUTBOX_MAX_ATTEMPTS, settings.OUTBOX_RETRY_SECONDS = 3, 10
    broken = OutboxMessage.objects.create(task_name="no.such.task", args=[1])

    assert relay_due().retrying == 1
    broken.refresh_from_db()
    assert (broken.state, broken.attempts) == ("pending", 1)
    assert broken.next_attempt_at == timezone.now() + timedelta(seconds=10)
    assert "no.such.task" in broken.last_error

    clock.shift(9)
    assert relay_due().claimed == 0  # not before its backoff
    clock.shift(1)
    assert relay_due().retrying == 1
    broken.refresh_from_db()
    assert broken.next_attempt_at == timezone.now() + timedelta(seconds=20)  # doubled

    clock.shift(20)
    assert relay_due().failed == 1
    broken.refresh_from_db()
    assert (broken.state, broken.attempts) == ("failed", 3)
    clock.shift(3600)
    assert relay_due().claimed == 0  # failed rows wait for a person, they are never dropped
    assert OutboxMessage.objects.filter(pk=broken.pk).exists()


def test_a_message_handed_over_but_never_finished_is_sent_again(
    flow, clock, settings, broker, django_capture_on_commit_callbacks
):
    """The broker may lose what it was given (Redis without persistence restarted): a row that is
    still `sent` OUTBOX_REDELIVER_SECONDS after it was due goes out again, and runs once."""
    settings.OUTBOX_REDELIVER_SECONDS = 600
    flow.disinfected()
    celery_app.conf.task_always_eager = False  # the message goes to the real broker ...
    with django_capture_on_commit_callbacks(execute=True):
        resting = flow.post("operator-1", "move-to-resting")
    (timer,) = messages(tasks.complete_rest)
    assert timer.state == "sent"
    celery_app.control.purge()  # ... which then loses it

    clock.shift(7 * 24 * 3600 + 599)
    assert relay_due().claimed == 0
    clock.shift(1)
    broker.back()
    assert relay_due().sent == 1

    assert flow.detail()["status"] == "rest_complete" and completions(flow.number) == 1
    assert resting["status"] == "resting"
    timer.refresh_from_db()
    assert (timer.state, timer.attempts) == ("done", 1)


def test_done_rows_are_purged_after_the_keep_period_and_failed_ones_are_kept(db, clock, settings):
    from config.reliability.tasks import purge_outbox

    settings.OUTBOX_KEEP_DAYS = 7
    done = OutboxMessage.objects.create(task_name="x", state="done", finished_at=timezone.now())
    failed = OutboxMessage.objects.create(task_name="x", state="failed", finished_at=timezone.now())

    clock.shift(7 * 24 * 3600 + 1)
    assert purge_outbox() == 1

    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == [failed.pk]
    assert not OutboxMessage.objects.filter(pk=done.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_relays_at_once_hand_each_message_over_once(settings):
    """Rows are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL) or under SQLite's IMMEDIATE
    transaction: two relays running together never publish the same row."""
    import threading

    from django.db import connection

    settings.OUTBOX_RELAY_BATCH = 10
    OutboxMessage.objects.bulk_create(OutboxMessage(task_name=tasks.complete_rest.name, args=[0]) for _ in range(120))
    published = {"a": 0, "b": 0}
    start = threading.Barrier(2)

    def run(name):
        try:
            start.wait()
            while True:
                outcome = relay_due()
                published[name] += outcome.sent
                if not outcome.claimed:
                    break
        finally:
            connection.close()

    relays = [threading.Thread(target=run, args=(name,)) for name in published]
    for relay_thread in relays:
        relay_thread.start()
    for relay_thread in relays:
        relay_thread.join(timeout=120)

    assert sum(published.values()) == 120  # every row published by exactly one of them
    assert OutboxMessage.objects.exclude(state="done").count() == 0


def test_a_message_the_broker_gives_back_after_a_worker_stopped_is_taken_at_once(db):
    """A worker stopped or killed mid-task leaves its row `running`; the broker redelivers the
    unacknowledged message and that delivery must run it, not wait for the relay."""
    from config.reliability.outbox import Claim, claim

    row = OutboxMessage.objects.create(task_name=tasks.send_alert_email.name, args=[], kwargs={})
    assert claim(row.pk) is Claim.WON  # the first worker took it, then died

    # a second plain delivery (a duplicate publish) does nothing while the row runs
    assert claim(row.pk) is Claim.TAKEN
    # but the broker's redelivery of the unacknowledged message takes it over
    assert claim(row.pk, redelivered=True) is Claim.WON
    row.refresh_from_db()
    assert row.state == "running"
