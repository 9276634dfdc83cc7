"""Buyers' personal data is kept no longer than needed (PIPL art. 19): `buyers_anonymise`.

After BUYER_DATA_RETENTION_DAYS a sale's buyer name becomes ANONYMISED_BUYER_NAME and the
phone is emptied; a business buyer's unified social credit code is kept (it names an entity,
not a person) unless it is that of an individual business (个体工商户, "92…"), which stands for
a natural person. The sale row, its codes, dates, merchant and buyer kind stay, so counts,
traces, recalls and exports keep their structure. Run daily by Celery beat
(`markets.tasks.anonymise_buyers`) and by `manage.py anonymise_buyers`.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from .models import ANONYMISED_BUYER_NAME, BuyerAnonymisationRun, Sale

# Natural persons stand behind the codes of individual businesses (GB 32100-2015: registration
# authority 9 = market supervision, organisation type 2 = individual business).
INDIVIDUAL_BUSINESS_PREFIX = "92"


@dataclass(frozen=True)
class AnonymisationResult:
    cutoff: datetime
    due: int  # sales older than the cut-off whose buyer was still named when the run began
    anonymised: int
    run: BuyerAnonymisationRun | None  # None for a dry run


def sales_due_for_anonymisation(*, cutoff: datetime):
    return Sale.objects.filter(sold_at__lt=cutoff, buyer_anonymised_at__isnull=True)


def buyers_anonymise(
    *,
    now: datetime | None = None,
    retention_days: int | None = None,
    chunk_size: int | None = None,
    dry_run: bool = False,
) -> AnonymisationResult:
    """Anonymise the buyers of every sale sold before `now - retention_days`.

    Works in bounded chunks, each its own short transaction, walking the sales by primary key;
    a sale already anonymised is never touched again, so a rerun (or two runs at once) changes
    nothing. Rows locked by a void in progress are skipped and taken by the next run. Every
    run that is not a dry run is recorded (BuyerAnonymisationRun), even when it found nothing."""
    started = now or timezone.now()
    retention_days = settings.BUYER_DATA_RETENTION_DAYS if retention_days is None else retention_days
    chunk_size = chunk_size or settings.BUYER_ANONYMISE_CHUNK_SIZE
    cutoff = started - timedelta(days=retention_days)
    due = sales_due_for_anonymisation(cutoff=cutoff).count()
    if dry_run:
        return AnonymisationResult(cutoff=cutoff, due=due, anonymised=0, run=None)

    anonymised, last_pk = 0, 0
    while True:
        with transaction.atomic():
            ids = list(
                sales_due_for_anonymisation(cutoff=cutoff)
                .filter(pk__gt=last_pk)
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:chunk_size]
            )
            if not ids:
                break
            anonymised += Sale.objects.filter(pk__in=ids, buyer_anonymised_at__isnull=True).update(
                buyer_name=ANONYMISED_BUYER_NAME,
                buyer_phone="",
                buyer_credit_code=Case(
                    When(buyer_credit_code__startswith=INDIVIDUAL_BUSINESS_PREFIX, then=Value("")),
                    default=F("buyer_credit_code"),
                ),
                buyer_anonymised_at=started,
            )
        last_pk = ids[-1]
        if len(ids) < chunk_size:
            break
    run = BuyerAnonymisationRun.objects.create(
        started_at=started,
        finished_at=max(timezone.now(), started),
        retention_days=retention_days,
        cutoff=cutoff,
        sales_anonymised=anonymised,
    )
    return AnonymisationResult(cutoff=cutoff, due=due, anonymised=anonymised, run=run)
