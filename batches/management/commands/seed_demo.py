"""`manage.py seed_demo --password PW`: the demo world of SPEC §5. Running it twice changes nothing.

Batches are walked through the real lifecycle services. The one batch that is already coded
and released was walked through a simulated history that started long enough ago for a full
REST_PERIOD_SECONDS rest to have passed: its rest is as long as any other (R1).
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from warehouse.models import Warehouse

from ... import services
from ...actors import actor_for
from ...demo import create_demo_organisations
from ...lifecycle import complete_rest
from ...models import Batch

LINES = {
    "coat": {
        "product_name": "羊毛大衣",
        "category": "服装",
        "specification": "女款 M 码 藏青",
        "quantity": 12,
        "unit": "件",
        "gtin": "09506000134352",
    },
    "sweater": {
        "product_name": "羊绒针织衫",
        "category": "服装",
        "specification": "男款 L 码 灰色",
        "quantity": 20,
        "unit": "件",
        "gtin": "",
    },
    "scarf": {
        "product_name": "真丝围巾",
        "category": "服饰配件",
        "specification": "180×70 cm",
        "quantity": 30,
        "unit": "条",
        "gtin": "",
    },
}


class Command(BaseCommand):
    help = "Create the demo world (warehouses WH-1/WH-2, markets MKT-A/B/C/D in two districts, users, batches)."

    def add_arguments(self, parser):
        parser.add_argument("--password", required=True, help="password for every demo user (set on creation)")

    def handle(self, *args, password: str, **options):
        if settings.PRODUCTION:
            # Demo users share one known password: never in a production database.
            raise CommandError("seed_demo does not run in production (PUBLIC_BASE_URL is https:// or PRODUCTION=1)")
        with transaction.atomic():
            users = create_demo_organisations(password=password)
            made = self.batches()
        self.stdout.write(f"demo world ready: {users} users and {made} batches created")

    # --- batches --------------------------------------------------------------------------

    def actor(self, username):
        return actor_for(get_user_model().objects.get(username=username))

    def declare(self, key, username, lines, now=None):
        merchant = self.actor(username)
        return services.batch_declare(
            actor=merchant,
            market=merchant.market,
            customs_declaration_no=key,
            origin_country="IT",
            port_of_entry="上海浦东国际机场",
            lines=[dict(LINES[name]) for name in lines],
            now=now,
        )

    def arrive_all(self, batch, operator, now=None, short_by=0):
        lines = [
            {
                "line": line.pk,
                "received_quantity": line.quantity - (short_by if i == 0 else 0),
                "type_matches": True,
                "spec_matches": True,
            }
            for i, line in enumerate(batch.lines.all())
        ]
        return services.batch_arrive(batch=batch, actor=operator, lines=lines, now=now)

    def batches(self) -> int:
        wh1, wh2 = Warehouse.objects.get(code="WH-1"), Warehouse.objects.get(code="WH-2")
        op1, op2 = self.actor("operator-1"), self.actor("operator-2")
        steps = {
            "DEMO-01-DRAFT": lambda: self.declare("DEMO-01-DRAFT", "merchant-a1", ["coat", "sweater"]),
            "DEMO-02-SUBMITTED": lambda: services.batch_submit(
                batch=self.declare("DEMO-02-SUBMITTED", "merchant-a2", ["scarf"]), actor=self.actor("merchant-a2")
            ),
            "DEMO-03-APPROVED": lambda: self.approved(
                "DEMO-03-APPROVED", "merchant-a1", "reviewer-a", wh1, ["sweater"]
            ),
            "DEMO-04-PRE-STORAGE": lambda: self.disinfected(
                self.arrive_all(self.approved("DEMO-04-PRE-STORAGE", "merchant-b1", "reviewer-b", wh1, ["coat"]), op1),
                op1,
            ),
            "DEMO-05-RESTING": lambda: self.resting("DEMO-05-RESTING", op1, wh1),
            "DEMO-06-DISCREPANCY": lambda: self.arrive_all(
                self.approved("DEMO-06-DISCREPANCY", "merchant-c1", "reviewer-c", wh2, ["scarf"]), op2, short_by=2
            ),
            "DEMO-07-RELEASED": lambda: self.history("DEMO-07-RELEASED", op1, wh1),
            # The second district's market D, resting in WH-2 (its regulator is regulator-2).
            "DEMO-08-RESTING-D": lambda: self.resting(
                "DEMO-08-RESTING-D", op2, wh2, merchant="merchant-d1", reviewer="reviewer-d"
            ),
        }
        made = 0
        for key, make in steps.items():
            if not Batch.objects.filter(customs_declaration_no=key).exists():
                make()
                made += 1
        return made

    def approved(self, key, merchant, reviewer, warehouse, lines, now=None):
        batch = self.declare(key, merchant, lines, now=now)
        services.batch_submit(batch=batch, actor=self.actor(merchant), now=now)
        return services.batch_approve(batch=batch, actor=self.actor(reviewer), warehouse=warehouse, now=now)

    def disinfected(self, batch, operator, now=None):
        services.batch_disinfect(
            batch=batch, actor=operator, agent="含氯消毒剂", concentration="500 mg/L", method="喷洒", now=now
        )
        return batch

    def resting(self, key, operator, warehouse, merchant="merchant-a1", reviewer="reviewer-a"):
        batch = self.disinfected(
            self.arrive_all(self.approved(key, merchant, reviewer, warehouse, ["scarf", "coat"]), operator),
            operator,
        )
        services.batch_move_to_resting(batch=batch, actor=operator)
        services.batch_record_sample(batch=batch, actor=operator, sample_no=f"{batch.number}-S1", lab="杭州市疾控中心")
        return batch

    def history(self, key, operator, warehouse):
        """A batch that went through a complete, full-length rest in the past."""
        rest = timedelta(seconds=settings.REST_PERIOD_SECONDS)
        start = timezone.now() - rest - timedelta(days=3)
        at = lambda hours: start + timedelta(hours=hours)  # noqa: E731
        batch = self.approved(key, "merchant-a1", "reviewer-a", warehouse, ["coat", "sweater"], now=at(0))
        self.arrive_all(batch, operator, now=at(20))
        self.disinfected(batch, operator, now=at(21))
        batch = services.batch_move_to_resting(batch=batch, actor=operator, now=at(22))
        # Sampled 2 h and tested 26 h into a week's rest; in proportion to a shorter one (a rest
        # is over at rest_until, after which no sample is taken: R1).
        within = lambda hours: at(22) + rest * hours / (7 * 24)  # noqa: E731
        services.batch_record_sample(
            batch=batch, actor=operator, sample_no=f"{batch.number}-S1", lab="杭州市疾控中心", now=within(2)
        )
        services.batch_record_test_result(
            batch=batch,
            actor=operator,
            sample_no=f"{batch.number}-S1",
            result="negative",
            report_no="HZCDC-2026-0412",
            now=within(26),
        )
        complete_rest(batch.pk, now=batch.rest_until)
        after = batch.rest_until
        services.batch_move_to_storage(batch=batch, actor=operator, now=after + timedelta(hours=1))
        services.batch_issue_codes(batch=batch, actor=operator, now=after + timedelta(hours=2))
        first = list(batch.codes.order_by("item_no").values_list("token", flat=True)[:20])
        services.batch_release(batch=batch, actor=operator, tokens=first, now=after + timedelta(hours=3))
        return batch
