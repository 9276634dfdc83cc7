"""Who is acting, and what each role may see (SPEC §2).

`actor_for(user)` resolves a signed-in user to one role in one query, or in none when the
user was read with its role (an API token's check does so). The `visible_*`
functions are the only way views get querysets, so a new endpoint cannot forget the scope.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from config.replica import pinned_to_primary, replica_configured, replica_reachable, replica_reads

from .models import Batch, Code, Role


@dataclass(frozen=True)
class Actor:
    user: object
    role: str
    merchant: object = None
    market: object = None
    warehouse: object = None
    district_id: int | None = None
    city_level: bool = False  # a city-level regulator: every district (markets.Regulator)

    @property
    def user_id(self):
        return self.user.pk if self.user else None


SYSTEM = Actor(user=None, role=Role.SYSTEM)
# The user's one-to-one role rows; loaded already (with select_related) they cost no query.
ROLE_RELATIONS = ("merchant", "reviewer", "operator", "regulator")


def actor_for(user) -> Actor | None:
    """The user's role and organisation, or None for a user with no role (e.g. a bare admin)."""
    if user is None or not user.is_authenticated:
        return None
    cached = getattr(user, "_actor", None)
    if cached is not None:
        return cached
    if all(name in user._state.fields_cache for name in ROLE_RELATIONS):
        row = user  # the API's token check read the role with the token (markets/accounts/tokens.py)
    else:
        row = (
            get_user_model()
            .objects.select_related("merchant__market", "reviewer__market", "operator__warehouse", "regulator")
            .get(pk=user.pk)
        )
    actor = None
    if hasattr(row, "merchant"):
        m = row.merchant
        actor = Actor(user, Role.MERCHANT, merchant=m, market=m.market, district_id=m.market.district_id)
    elif hasattr(row, "reviewer"):
        r = row.reviewer
        actor = Actor(user, Role.REVIEWER, market=r.market, district_id=r.market.district_id)
    elif hasattr(row, "operator"):
        o = row.operator
        actor = Actor(user, Role.OPERATOR, warehouse=o.warehouse, district_id=o.warehouse.district_id)
    elif hasattr(row, "regulator"):
        g = row.regulator
        actor = Actor(user, Role.REGULATOR, district_id=g.district_id, city_level=g.city_level)
    user._actor = actor
    return actor


def batch_scope(actor: Actor | None) -> tuple[str, int] | None:
    """The one lookup and value that scope the actor's batches (SPEC §2), or None: nothing
    visible. `visible_batches` filters with it; a compiled hot-path query (warehouse/scan.py)
    filters with it too, so both scope alike."""
    if actor is None:
        return None
    if actor.role == Role.MERCHANT:
        return "merchant_id", actor.merchant.pk
    if actor.role == Role.REVIEWER:
        return "market_id", actor.market.pk
    if actor.role == Role.OPERATOR:
        return "warehouse_id", actor.warehouse.pk
    if actor.role == Role.REGULATOR:
        if actor.city_level:  # every district: the one lookup that every batch meets
            return "market__district_id__isnull", False
        return "market__district_id", actor.district_id
    return None


def in_district(actor: Actor, lookup: str) -> Q:
    """The filter for "in the actor's district" along `lookup` (e.g. `market__district_id`):
    no filter at all for a city-level regulator, who sees every district."""
    if actor.city_level:
        return Q()
    return Q(**{lookup: actor.district_id})


def visible_batches(actor: Actor | None) -> QuerySet[Batch]:
    """Batches the actor may see: own (merchant), own market (reviewer), assigned to own
    warehouse (operator), the whole district (regulator; a city-level one every district);
    nothing otherwise."""
    scope = batch_scope(actor)
    if scope is None:
        return Batch.objects.none()
    lookup, value = scope
    return Batch.objects.filter(**{lookup: value})


def visible_codes(actor: Actor | None) -> QuerySet[Code]:
    """Codes of the batches the actor may see (a merchant sees the codes of own batches).
    Scoped by a join on the code's batch (batch_scope), not `batch IN (the visible batches)`:
    PostgreSQL then looks the codes up by their unique token first whatever it estimates of the
    actor's batches, instead of walking every code of every batch of a big merchant."""
    scope = batch_scope(actor)
    if scope is None:
        return Code.objects.none()
    lookup, value = scope
    return Code.objects.filter(**{f"batch__{lookup}": value})


def regulator_reads(view):
    """For the regulator's read-only pages and exports (dashboard, trace, sales lists, EPCIS):
    a regulator's reads in this view come from the read replica, if one is configured and the
    regulator has not just changed something (then the primary, see config/replica.py).

    Who is asking is decided first, on the primary: a revoked token or a deactivated user must
    stop working at once, not after the replica's lag. Any other role reads from the primary,
    and so does everyone while the replica cannot be reached.
    Writes (the trace-query record) always go to the primary. Use inside `role_page`, or on a
    DRF handler with `method_decorator`.
    """

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        enabled = False
        if replica_configured():
            actor = actor_for(request.user)
            enabled = (
                actor is not None
                and actor.role == Role.REGULATOR
                and not pinned_to_primary(actor.user_id)
                and replica_reachable()
            )
        with replica_reads(enabled):
            return view(request, *args, **kwargs)

    return wrapped
