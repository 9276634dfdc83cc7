"""The states of the world that the pages must show well, built on top of `seed_demo` with the
services themselves at past times (as `seed_demo` builds its released batch), so that no test
waits for a rest to end:

- `sold`: DEMO-07-RELEASED with one item sold (public page: in warehouse, in the market, sold);
- `sealed`: a lot of merchant-b1 beside the positive batch, released, two items sold to two
  buyers, sealed under the incident (the incident's buyers);
- `positive`: a batch of merchant-b1 whose sample was positive: quarantined, incident open;
- `recalled`: a released batch of merchant-a1 with one item sold, then recalled by the regulator.
All of them went through WH-1 on the same day as DEMO-07, so they are co-located lots.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from batches import services
from batches.actors import actor_for
from batches.incidents import incident_seal
from batches.lifecycle import complete_rest
from batches.management.commands.seed_demo import Command as Seed
from batches.models import Batch, Code, CodeStatus, Incident
from markets.services import sale_record
from warehouse.models import Warehouse


def actor(username):
    return actor_for(get_user_model().objects.get(username=username))


@dataclass
class World:
    draft: Batch
    submitted: Batch
    approved: Batch
    pre_storage: Batch
    resting: Batch
    discrepancy: Batch
    sold: Batch
    sealed: Batch
    positive: Batch
    recalled: Batch
    incident: Incident

    def token(self, batch, status):
        return Code.objects.filter(batch=batch, status=status).order_by("item_no").values_list("token", flat=True)[0]


def walked(seed, key, merchant, reviewer, *, start, positive=False, release=4):
    """A batch of WH-1 declared at `start` and walked like seed_demo's released one: sampled and
    tested inside a full rest; a negative one is then stored, coded and partly released."""
    operator = actor("operator-1")
    rest = timedelta(seconds=settings.REST_PERIOD_SECONDS)
    at = lambda hours: start + timedelta(hours=hours)  # noqa: E731
    batch = seed.approved(key, merchant, reviewer, Warehouse.objects.get(code="WH-1"), ["coat", "scarf"], now=at(0))
    seed.arrive_all(batch, operator, now=at(20))
    seed.disinfected(batch, operator, now=at(21))
    batch = services.batch_move_to_resting(batch=batch, actor=operator, now=at(22))
    within = lambda hours: at(22) + rest * hours / (7 * 24)  # noqa: E731
    sample = f"{batch.number}-S1"
    services.batch_record_sample(batch=batch, actor=operator, sample_no=sample, lab="杭州市疾控中心", now=within(2))
    services.batch_record_test_result(
        batch=batch,
        actor=operator,
        sample_no=sample,
        result="positive" if positive else "negative",
        report_no=f"HZCDC-{key}",
        now=within(26),
    )
    if positive:
        return Batch.objects.get(pk=batch.pk)
    batch.refresh_from_db()
    complete_rest(batch.pk, now=batch.rest_until)
    after = batch.rest_until
    services.batch_move_to_storage(batch=batch, actor=operator, now=after + timedelta(hours=1))
    services.batch_issue_codes(batch=batch, actor=operator, now=after + timedelta(hours=2))
    tokens = list(batch.codes.order_by("item_no").values_list("token", flat=True)[:release])
    services.batch_release(batch=batch, actor=operator, tokens=tokens, now=after + timedelta(hours=3))
    return Batch.objects.get(pk=batch.pk)


def sell(username, batch, count, buyer_name, buyer_phone):
    tokens = Code.objects.filter(batch=batch, status=CodeStatus.RELEASED).order_by("item_no")
    return sale_record(
        actor=actor(username),
        scans=list(tokens.values_list("token", flat=True)[:count]),
        buyer_name=buyer_name,
        buyer_phone=buyer_phone,
        buyer_kind="consumer",
    )


def build_world(password) -> World:
    call_command("seed_demo", password=password)
    # One transaction, as seed_demo's: the rest timers that the walks schedule run at its commit,
    # with the real time, when every walk is past its rest already.
    with transaction.atomic():
        return _build()


def _build() -> World:
    demo = {b.customs_declaration_no: b for b in Batch.objects.all()}
    released = demo["DEMO-07-RELEASED"]
    # The same start as DEMO-07's walk (seed_demo.history), so every lot arrived the same day.
    start = released.events.filter(action="declare").values_list("at", flat=True).get()
    seed = Seed()
    sealed = walked(seed, "AXE-SEALED", "merchant-b1", "reviewer-b", start=start + timedelta(minutes=1))
    recalled = walked(seed, "AXE-RECALLED", "merchant-a1", "reviewer-a", start=start + timedelta(minutes=2))
    positive = walked(
        seed, "AXE-POSITIVE", "merchant-b1", "reviewer-b", start=start + timedelta(minutes=3), positive=True
    )
    sell("merchant-a1", released, 1, "王小姐", "13912345678")
    sell("merchant-b1", sealed, 1, "Alexandra Konstantinopoulou", "13912345679")
    sell("merchant-b1", sealed, 1, "欧阳娜娜（杭州市上城区望江街道）", "13700001234")
    sell("merchant-a1", recalled, 1, "李先生", "13600005678")
    services.batch_recall(batch=recalled, actor=actor("regulator"), reason="标签与报关单不符")
    incident = Incident.objects.get(batch=positive)
    incident_seal(incident=incident, actor=actor("regulator"), numbers=[sealed.number], reason="同期静置、同日到货")
    return World(
        draft=demo["DEMO-01-DRAFT"],
        submitted=demo["DEMO-02-SUBMITTED"],
        approved=demo["DEMO-03-APPROVED"],
        pre_storage=demo["DEMO-04-PRE-STORAGE"],
        resting=demo["DEMO-05-RESTING"],
        discrepancy=demo["DEMO-06-DISCREPANCY"],
        sold=Batch.objects.get(pk=released.pk),
        sealed=Batch.objects.get(pk=sealed.pk),
        positive=Batch.objects.get(pk=positive.pk),
        recalled=Batch.objects.get(pk=recalled.pk),
        incident=incident,
    )
