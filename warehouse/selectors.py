"""Reads about coded goods shared by the label sheets, the scanner and the public page."""

from datetime import date

from django.utils import timezone

from batches.models import Batch, Code, Disinfection, TestResult
from batches.services import code_url


def qr_url(code: Code) -> str:
    """What the code's QR encodes (needs `code.line` and `code.batch`, select them along)."""
    return code_url(token=code.token, gtin=code.line.gtin, batch_number=code.batch.number, serial=code.serial)


def first_negative_result(batch: Batch) -> TestResult | None:
    """The first negative result of the batch's current cycle: the one that opened the gate (R2)."""
    return (
        TestResult.objects.filter(sample__batch=batch, sample__cycle=batch.cycle, result=TestResult.Outcome.NEGATIVE)
        .order_by("recorded_at", "id")
        .first()
    )


def last_disinfection(batch: Batch) -> Disinfection | None:
    """The disinfection of the batch's current cycle (the latest, if it was repeated)."""
    return Disinfection.objects.filter(batch=batch, cycle=batch.cycle).order_by("performed_at", "id").last()


def local_date(moment) -> date | None:
    """The calendar date in Asia/Shanghai (R8: stored in UTC, shown in Asia/Shanghai)."""
    return timezone.localtime(moment).date() if moment else None
