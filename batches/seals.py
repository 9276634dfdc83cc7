"""The seal guard (README "Incident mode"): a sealed batch is not moved to storage, coded,
released or sold until the seal is lifted. Checked under the batch's row lock, inside the
transaction of the action (batches.lifecycle.transition, markets.services.sale_record)."""

from django.utils.translation import gettext as _

from config.compiled import CompiledQuery

from .actions import stopped_by_seal
from .errors import DomainError
from .models import Batch, Seal

# Every sealable transition and every sale asks this of one batch, under its row lock: that
# look-up is built once per process (config/compiled.py).
_SEALED_ONE = CompiledQuery(
    Seal, lambda pk: Seal.objects.filter(batch_id=pk, lifted_at__isnull=True).values_list("batch_id"), pk=-901
)


def sealed_batch_ids(batch_ids) -> set[int]:
    """Which of these batches have a seal in force. Read under the batches' row locks, in a
    statement after the one that took them: the locking statement reads the database as it was
    when it began waiting, before a seal committed meanwhile."""
    batch_ids = list(batch_ids)
    if len(batch_ids) == 1:
        return {batch_id for (batch_id,) in _SEALED_ONE(pk=batch_ids[0])}
    return set(Seal.objects.filter(batch_id__in=batch_ids, lifted_at__isnull=True).values_list("batch_id", flat=True))


def sealed_error(batch: Batch, *, allowed=()) -> DomainError:
    return DomainError(
        "sealed",
        _("Batch %(number)s is sealed: nothing leaves it until the regulator lifts the seal.")
        % {"number": batch.number},
        status=batch.status,
        allowed=[a for a in allowed if not stopped_by_seal(a)],
    )
