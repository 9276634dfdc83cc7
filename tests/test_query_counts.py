"""Fixed query counts of the hot endpoints (docs/performance.md, "The hot paths under load"): a scan, the
batch detail and the public page take a fixed number of queries, and a release or a sale the
same number whatever the number of codes. The fast rendering of the detail and of a scan says
exactly what the serializers say."""

import json

import pytest
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client

from batches.actors import actor_for
from batches.api.serializers import (
    BatchDetail,
    BatchSummary,
    batch_detail_queryset,
    detail_batch,
    render_detail,
    summary_output,
)
from batches.codes import lookup_chunk
from batches.models import Batch

# The token check reads the token with its user and role (1); a scan then reads the code (or
# the batch) with its batch, market, warehouse, merchant and code counts (1), and the lines (1).
SCAN_QUERIES = 3
# Token (1), the batch in the caller's scope with its code counts (1), then its lines,
# disinfections, and samples with their results (3).
DETAIL_QUERIES = 5
# Not in the cache: which batch (1), the code with its batch (1), last disinfection (1),
# first negative result (1). In the cache: none.
PUBLIC_QUERIES = 4


@pytest.fixture
def coded(flow, clock):
    flow.coded(clock)
    return flow, flow.codes()


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def same(data) -> dict:
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def test_a_scan_of_a_code_or_a_pallet_is_three_queries(api, coded, django_assert_num_queries):
    flow, codes = coded
    operator = api("operator-1")
    assert operator.get(f"/api/scan/?value={codes[1]['token']}").status_code == 200  # the schema table is built

    for value in (codes[0]["token"], codes[0]["url"], flow.number):
        with django_assert_num_queries(SCAN_QUERIES):
            response = operator.get("/api/scan/", {"value": value})
        assert response.status_code == 200, response.content


def test_a_scan_outside_the_scope_costs_no_more_and_finds_nothing(api, coded, django_assert_max_num_queries):
    flow, codes = coded
    other = api("operator-2")  # WH-2: not this batch's warehouse
    assert other.get(f"/api/scan/?value={codes[1]['token']}").status_code == 404

    for value in (codes[0]["token"], flow.number):
        with django_assert_max_num_queries(2):
            assert other.get("/api/scan/", {"value": value}).status_code == 404


def test_the_batch_detail_is_five_queries_for_every_role(api, coded, django_assert_num_queries):
    flow, _codes = coded
    flow.detail("regulator")
    for username in ("merchant-a1", "reviewer-a", "operator-1", "regulator"):
        with django_assert_num_queries(DETAIL_QUERIES):
            response = api(username).get(f"/api/batches/{flow.number}/")
        assert response.status_code == 200


def test_the_public_page_is_four_queries_then_none_from_the_cache(coded, django_assert_num_queries):
    _flow, codes = coded
    cache.clear()  # the batch's last event is settled (UNSETTLED_SECONDS; the test's clock stands still)
    public, path = Client(), f"/c/{codes[2]['token']}"

    with django_assert_num_queries(PUBLIC_QUERIES):
        first = public.get(path)
    with django_assert_num_queries(0):
        again = public.get(path)
    with django_assert_num_queries(0):
        unchanged = public.get(path, HTTP_IF_NONE_MATCH=first["ETag"])

    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert unchanged.status_code == 304


def test_a_release_costs_the_same_queries_for_one_code_or_many(api, coded, django_assert_num_queries):
    flow, codes = coded
    operator = api("operator-1")

    def release(tokens):
        with connection.execute_wrapper(counter := Counter()):
            response = operator.post(f"/api/batches/{flow.number}/release/", {"codes": tokens}, format="json")
        assert response.status_code == 200, response.content
        return counter.count

    one = release([codes[0]["token"]])
    three = release([code["token"] for code in codes[1:4]])  # one code stays: the batch stays coded

    assert one == three
    with django_assert_num_queries(one):
        release([codes[4]["url"]])  # the last one: the batch becomes released (the same count)


def test_a_sale_costs_the_same_queries_for_one_code_or_many(api, flow, clock, sell):
    codes = flow.released(clock)

    def sale(tokens):
        with connection.execute_wrapper(counter := Counter()):
            sell(tokens)
        return counter.count

    # token; the codes; the batch's lock; its seal, read after the lock; the codes' move; the
    # sale; its items; the event; and, inside the test's own transaction, the sale's is a
    # SAVEPOINT and its RELEASE
    assert sale([codes[0]["token"]]) == sale([code["token"] for code in codes[1:5]]) == 10


def test_the_answer_to_a_sale_is_the_sale_as_read_back(api, flow, clock, sell):
    codes = flow.released(clock)
    # Scanned in another order than the codes' own, as URLs and tokens mixed.
    answer = sell([codes[3]["url"], codes[1]["token"], codes[2]["token"]], buyer_phone="+8613912345678")

    for username in ("merchant-a1", "regulator"):
        read_back = api(username).get(f"/api/sales/{answer['id']}/")
        assert read_back.status_code == 200
        if username == "merchant-a1":
            assert read_back.json() == answer
    assert answer["codes"] == [codes[1]["token"], codes[2]["token"], codes[3]["token"]]
    assert answer["buyer_phone"] == "139****5678" and answer["merchant"]["stall"] == "A-101"


@pytest.mark.django_db  # Django 6.0 asks SQLite's connection for its limit on bound parameters
def test_one_query_takes_the_longest_list_the_api_accepts_where_the_database_allows():
    from batches.api.serializers import ReleaseInput
    from markets.services import SALE_MAX_CODES

    limit = connection.features.max_query_params
    longest = max(ReleaseInput().fields["codes"].max_length, SALE_MAX_CODES)
    if limit:  # SQLite: IN lists stay under its bound-parameter limit
        assert lookup_chunk() <= limit
    else:  # PostgreSQL: one IN list for any list the API accepts
        assert lookup_chunk() >= longest


def test_the_fast_detail_and_summary_say_what_the_serializers_say(api, flow, clock, new_flow):
    flow.coded(clock)
    flow.post("operator-1", "release", {"codes": [flow.codes()[0]["token"]]})
    drafted = new_flow().to("draft")
    resting = new_flow().to("resting")
    sampled = new_flow()
    sampled.resting()
    sampled.sample()  # a sample still without its result
    regulator = actor_for(_user("regulator"))

    for number in (flow.number, drafted.number, resting.number, sampled.number):
        batch = batch_detail_queryset(Batch.objects.filter(number=number)).get()
        for actor in (regulator, actor_for(_user("operator-1")), None):
            assert same(render_detail(batch, actor)) == same(BatchDetail(batch, context={"actor": actor}).data)
        assert same(render_detail(detail_batch(regulator, number), regulator)) == same(
            BatchDetail(batch, context={"actor": regulator}).data
        )
        assert same(summary_output(batch)) == same(BatchSummary(batch).data)
    assert BatchDetail(batch_detail_queryset(Batch.objects.filter(number=flow.number)).get()).data["samples"]


def test_the_detail_is_read_only_within_the_callers_scope(flow, clock):
    flow.coded(clock)

    assert detail_batch(actor_for(_user("operator-1")), flow.number).number == flow.number
    assert detail_batch(actor_for(_user("operator-2")), flow.number) is None  # another warehouse
    assert detail_batch(actor_for(_user("merchant-a2")), flow.number) is None  # another merchant
    assert detail_batch(actor_for(_user("regulator-2")), flow.number) is None  # another district
    assert detail_batch(actor_for(_user("regulator-city")), flow.number).number == flow.number


def _user(username):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


class Counter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)
