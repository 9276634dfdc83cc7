"""The public page's per-address limit is one atomic counter in the shared cache (contract:
every request counts against the per-address limit): 30 clients at once from one address get
exactly the rate, on Redis as the web nodes share it, and in one process's memory alike."""

import threading
import uuid

import pytest
from django.core.cache import caches
from django.test import RequestFactory, override_settings

from tests.processes import redis_url
from warehouse.public import LOCAL_COUNTS, PublicVerifyThrottle


def hammer(clients: int, each: int, address: str) -> list[bool]:
    answers, start = [], threading.Barrier(clients)
    lock = threading.Lock()

    def client():
        request = RequestFactory().get("/c/x", REMOTE_ADDR=address)
        start.wait()
        for _ in range(each):
            allowed = PublicVerifyThrottle().allow_request(request, None)
            with lock:
                answers.append(allowed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.fixture
def rate_60(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"public_verify": "60/min"}}
    PublicVerifyThrottle.shared_down_until = 0.0


@pytest.mark.parametrize("round_", range(5))  # the first requests of a window race too: try it often
def test_thirty_clients_at_once_get_exactly_the_rate_through_redis(rate_60, round_):
    redis = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": redis_url()}}
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    keys = [f"throttle_public_verify_{address}", f"throttle_public_verify_{address}:start"]
    original = PublicVerifyThrottle.cache
    with override_settings(CACHES=redis):
        PublicVerifyThrottle.cache = caches["default"]
        try:
            caches["default"].delete_many(keys)
            answers = hammer(30, 5, address)
            refused = PublicVerifyThrottle()
            refused.num_requests, refused.duration = 60, 60
            refused.cache = caches["default"]
            request = RequestFactory().get("/c/x", REMOTE_ADDR=address)
            assert refused.counted(request, None) is False
            assert 1 <= refused.wait() <= 60
        finally:
            caches["default"].delete_many(keys)
            PublicVerifyThrottle.cache = original

    assert len(answers) == 150
    assert answers.count(True) == 60  # not one more: the count is atomic


def test_the_in_process_fallback_counts_exactly_too(rate_60):
    LOCAL_COUNTS.clear()
    throttle = PublicVerifyThrottle()
    throttle.num_requests, throttle.duration = 60, 60
    throttle.cache = LOCAL_COUNTS
    request = RequestFactory().get("/c/x", REMOTE_ADDR="198.51.100.4")

    answers = [throttle.counted(request, None) for _ in range(70)]

    assert answers.count(True) == 60 and answers[60:] == [False] * 10
    LOCAL_COUNTS.clear()
