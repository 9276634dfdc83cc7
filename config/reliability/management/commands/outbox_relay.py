"""`python manage.py outbox_relay`: hands the outbox's rows to the Celery broker.

A long-running loop (one per machine or more; they never publish the same row twice at once):
each pass claims due rows, publishes them and marks them sent. When the broker is away the loop
waits (doubling up to OUTBOX_RELAY_MAX_WAIT) and tries again; nothing is lost meanwhile.
SIGTERM or SIGINT ends it within a poll interval. `--once` drains what is due and exits (exit
status 1 if the broker could not be reached), for tests and cron-style use."""

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from config.reliability.outbox import relay_due

logger = logging.getLogger("reliability.relay")


class Command(BaseCommand):
    help = "Hand the outbox's recorded tasks to the Celery broker (the transactional outbox relay)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="drain what is due now and exit")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="seconds between passes when idle (default OUTBOX_POLL_SECONDS)",
        )

    def handle(self, *args, once=False, interval=None, **options):
        interval = settings.OUTBOX_POLL_SECONDS if interval is None else interval
        if once:
            return self.drain()
        stop = threading.Event()

        def request_stop(signum, frame):
            logger.info("outbox relay: signal %s, stopping", signum)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        logger.info("outbox relay started (poll every %.1fs)", interval)
        wait = interval
        while not stop.is_set():
            close_old_connections()
            try:
                outcome = relay_due()
            except Exception:
                # The database may be away too: log, wait, try again; never die on one bad pass.
                logger.exception("outbox relay: pass failed")
                stop.wait(wait)
                wait = min(wait * 2, settings.OUTBOX_RELAY_MAX_WAIT)
                continue
            if outcome.sent or outcome.failed or outcome.retrying:
                logger.info(
                    "outbox relay: sent %d, retrying %d, failed %d", outcome.sent, outcome.retrying, outcome.failed
                )
            if outcome.broker_error:
                logger.warning("outbox relay: broker unavailable (%s); next try in %.0fs", outcome.broker_error, wait)
                stop.wait(wait)
                wait = min(wait * 2, settings.OUTBOX_RELAY_MAX_WAIT)
                continue
            wait = interval
            if outcome.claimed < settings.OUTBOX_RELAY_BATCH:
                stop.wait(interval)  # caught up; a full pass goes again at once
        logger.info("outbox relay stopped")

    def drain(self):
        totals = {"sent": 0, "retrying": 0, "failed": 0}
        while True:
            outcome = relay_due()
            for name in totals:
                totals[name] += getattr(outcome, name)
            if outcome.broker_error:
                self.stderr.write(f"broker unavailable: {outcome.broker_error}")
                self.stdout.write("sent {sent}, retrying {retrying}, failed {failed}".format(**totals))
                raise SystemExit(1)
            if outcome.claimed < settings.OUTBOX_RELAY_BATCH:
                break
        self.stdout.write("sent {sent}, retrying {retrying}, failed {failed}".format(**totals))
