"""Shared set-up for the benchmarks: Django on a throw-away database of its own.

Run from the project folder with DATABASE_URL pointing at PostgreSQL (the figures the issues
ask for are PostgreSQL figures); the benchmark creates `test_<name>` and drops it afterwards.
"""

import os
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # demo users only

from config.celery import app as celery_app  # noqa: E402

# Timers queued by the services go to an in-memory broker nobody consumes: the benchmarks
# drive the rest sweep themselves and must not leave messages in a real queue.
settings.CELERY_BROKER_URL = "memory://"  # the outbox hands tasks to the broker Django's settings name
celery_app.conf.broker_url = "memory://"
celery_app.conf.task_always_eager = False


@contextmanager
def throwaway_database():
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield connection
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
