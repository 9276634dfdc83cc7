"""The seal guard (README "Incident mode"): a sealed batch is not moved to storage, coded,
released or sold until the seal is lifted. Checked under the batch's row lock, inside the
transaction of the action (batches.lifecycle.transition, markets.services.sale_record)."""

from django.utils.translation import gettext as _

from .actions import stopped_by_seal
from .errors import DomainError
from .models import Batch, Seal


def sealed_batch_ids(batch_ids) -> set[int]:
    return set(
        Seal.objects.filter(batch_id__in=list(batch_ids), lifted_at__isnull=True).values_list("batch_id", flat=True)
    )


def sealed_error(batch: Batch, *, allowed=()) -> DomainError:
    return DomainError(
        "sealed",
        _("Batch %(number)s is sealed: nothing leaves it until the regulator lifts the seal.")
        % {"number": batch.number},
        status=batch.status,
        allowed=[a for a in allowed if not stopped_by_seal(a)],
    )
