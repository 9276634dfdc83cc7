"""A read replica for the regulator's read-only pages and exports (docs/scaling.md).

With `DATABASE_REPLICA_URL` set, settings add a second database alias, `replica`, for a
PostgreSQL streaming replica. Nothing goes there by default: a view opts in by reading inside
`replica_reads()` (for the regulator: `batches.actors.regulator_reads`), and the router sends
that view's reads to the replica. Everything else — every write, every read outside such a
view, and so whatever must be fresh after an action (a batch's detail, a scan, the record of a
trace query) — stays on the primary. Without `DATABASE_REPLICA_URL` everything is on the
primary and none of this costs anything.

A replica lags its primary. So that a person sees their own change at once, whoever changed
something (every change writes an event, R6) is pinned to the primary for
`REPLICA_PIN_SECONDS`: their next reads come from the primary even in an opted-in view.

A replica that cannot be reached is not an outage: the view reads from the primary instead,
and the failure is logged. (Failover of the primary itself is not automatic: docs/scaling.md.)
"""

import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

logger = logging.getLogger(__name__)

REPLICA = "replica"

_reading_replica: ContextVar[bool] = ContextVar("reading_replica", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def read_alias() -> str:
    """Where a read made now goes: the replica inside `replica_reads()`, else the primary.
    For raw SQL (`connections[read_alias()]`) and for querysets evaluated after the view has
    returned (a streamed export binds this alias with `.using()`)."""
    return REPLICA if _reading_replica.get() else DEFAULT_DB_ALIAS


@contextmanager
def replica_reads(enabled: bool = True):
    """Reads inside this block may come from the replica (when one is configured). Writes
    never do: the router sends every write to the primary."""
    token = _reading_replica.set(bool(enabled) and replica_configured())
    try:
        yield
    finally:
        _reading_replica.reset(token)


# After a failed connection this process leaves the replica alone for a while, so that a
# replica that is down does not cost every regulator request the connect timeout.
REPLICA_RETRY_SECONDS = 30
_replica_down_until = 0.0


def replica_reachable() -> bool:
    """Connects to the replica (the connection the view's reads then use); False, logged, if
    that fails, so the caller reads from the primary."""
    global _replica_down_until
    if time.monotonic() < _replica_down_until:
        return False
    replica = connections[REPLICA]
    try:
        replica.close_if_health_check_failed()  # a kept connection to a replica that went away
        replica.ensure_connection()
    except DatabaseError as exc:
        _replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
        logger.warning("read replica unreachable, reading from the primary for %d s: %s", REPLICA_RETRY_SECONDS, exc)
        return False
    return True


# --- read-your-writes: a person who changed something reads from the primary for a while -----


def _pin_key(user_id) -> str:
    return f"replica-pin:{user_id}"


def pin_to_primary(user_id) -> None:
    """After the current transaction commits, this user's reads stay on the primary for
    REPLICA_PIN_SECONDS (the cache is shared by every web server: Redis in production)."""
    if user_id is None or not replica_configured() or settings.REPLICA_PIN_SECONDS <= 0:
        return
    key = _pin_key(user_id)

    def pin():
        try:
            cache.set(key, 1, timeout=settings.REPLICA_PIN_SECONDS)
        except Exception:  # the cache (Redis) is away: the change is committed and must answer 2xx
            logger.warning("replica pin for user %s not stored: the cache is unreachable", user_id)

    transaction.on_commit(pin)


def pinned_to_primary(user_id) -> bool:
    """True while the user's pin lasts; with the cache unreachable, True: read the primary."""
    if user_id is None:
        return False
    try:
        return cache.get(_pin_key(user_id)) is not None
    except Exception:
        return True


class PrimaryReplicaRouter:
    """Reads go where `read_alias()` says; writes and migrations only to the primary."""

    def db_for_read(self, model, **hints):
        # Always an answer, never None: Django would otherwise fall back to the database an
        # instance was loaded from, and an object read from the replica would keep reading there.
        return read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases hold the same data: an object read from the replica may be linked to one
        # from the primary (the write itself goes to the primary).
        return {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA, None}

    def allow_migrate(self, db, app_label, **hints):
        return db == DEFAULT_DB_ALIAS
