"""Read-your-writes across the replica's lag (config/replica.py) when the shared cache is away:
a committed change still answers normally, and the person reads from the primary."""

import pytest
from django.db import transaction
from django.test import override_settings

from config.replica import pin_to_primary, pinned_to_primary

CACHE_AWAY = {
    "default": {
        "BACKEND": "config.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


# Only the list of aliases is read here (is a replica configured?); no connection is opened.
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_a_change_committed_while_the_cache_is_away_does_not_fail_and_reads_go_to_the_primary(
    db, settings, django_capture_on_commit_callbacks
):
    # given a site with a read replica whose shared cache (Redis) is unreachable
    settings.DATABASES = {**settings.DATABASES, "replica": dict(settings.DATABASES["default"])}
    with override_settings(CACHES=CACHE_AWAY):
        # when a person's change commits, its pin cannot be stored: no error reaches them
        with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
            pin_to_primary(7)
        assert len(callbacks) == 1
        # and while the cache is away, their reads stay on the primary
        assert pinned_to_primary(7) is True
    assert pinned_to_primary(None) is False
