"""Live occupancy of each warehouse zone, derived from the batches' statuses."""

from collections import defaultdict

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from batches.lifecycle import ZONE_OF_STATUS
from batches.models import Batch, BatchLine


def zone_occupancy(warehouse_ids) -> dict:
    """{warehouse_id: {zone: {"batches": n, "items": n}}} in two grouped queries."""
    occupied = list(ZONE_OF_STATUS)
    result = defaultdict(lambda: defaultdict(lambda: {"batches": 0, "items": 0}))
    batches = (
        Batch.objects.filter(warehouse_id__in=warehouse_ids, status__in=occupied)
        .values("warehouse_id", "status")
        .annotate(n=Count("id"))
    )
    for row in batches:
        result[row["warehouse_id"]][ZONE_OF_STATUS[row["status"]]]["batches"] += row["n"]
    items = (
        BatchLine.objects.filter(batch__warehouse_id__in=warehouse_ids, batch__status__in=occupied)
        .values("batch__warehouse_id", "batch__status")
        .annotate(n=Sum(Coalesce("received_quantity", "quantity")))
    )
    for row in items:
        result[row["batch__warehouse_id"]][ZONE_OF_STATUS[row["batch__status"]]]["items"] += row["n"] or 0
    return result
