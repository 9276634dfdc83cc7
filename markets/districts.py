"""Districts as the regulator sees them (SPEC §2, §5): which districts, markets and warehouses
are within an actor's reach, and the `?district=` filter of a city-level regulator.

A district regulator reaches the markets of the district and the warehouses that are in it or
serve one of its markets (a warehouse may serve markets of two districts, like the demo's
WH-2). A city-level regulator reaches everything; `?district=CODE` narrows their reads to one
district, as if they were that district's regulator for the request."""

from dataclasses import replace

from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from batches.actors import Actor
from batches.models import Role
from warehouse.models import Warehouse

from .models import District, Market


def visible_districts(actor: Actor | None) -> QuerySet[District]:
    districts = District.objects.order_by("code")
    if actor is None or (actor.district_id is None and not actor.city_level):
        return districts.none()
    if actor.city_level:
        return districts
    return districts.filter(pk=actor.district_id)


def visible_markets(actor: Actor | None) -> QuerySet[Market]:
    """Markets of the caller's district (any role); every market for a city-level regulator."""
    if actor is None:
        return Market.objects.none()
    if actor.city_level:
        return Market.objects.all()
    return Market.objects.filter(district_id=actor.district_id)


def visible_warehouses(actor: Actor | None) -> QuerySet[Warehouse]:
    """Warehouses in the caller's district or serving one of its markets; all for the city."""
    if actor is None:
        return Warehouse.objects.none()
    if actor.city_level:
        return Warehouse.objects.all()
    ids = Warehouse.objects.filter(Q(district_id=actor.district_id) | Q(markets__district_id=actor.district_id)).values(
        "id"
    )
    return Warehouse.objects.filter(id__in=ids)


def board_warehouse(actor: Actor, code: str) -> Warehouse:
    """The warehouse whose zone board the actor looks at: an operator's own; for a regulator
    the one named by `code` among visible_warehouses (Http404 otherwise)."""
    if actor.warehouse is not None:
        return actor.warehouse
    return get_object_or_404(visible_warehouses(actor), code=code or "")


def narrowed(actor: Actor | None, code: str | None) -> Actor | None:
    """The actor narrowed to the district `code` (the `?district=` filter). No code: the actor
    as is. A code outside the actor's reach, or not a district: 404, like any hidden object.
    Only regulators filter by district; for anyone else the parameter must name their own."""
    if not code or actor is None:
        return actor
    district = visible_districts(actor).filter(code=code).first()
    if district is None:
        raise Http404  # said like every hidden object: 「未找到。」 (batches.api.errors)
    if actor.role != Role.REGULATOR or not actor.city_level:
        return actor
    return replace(actor, district_id=district.pk, city_level=False)
