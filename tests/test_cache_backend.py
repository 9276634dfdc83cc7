"""The Redis cache backend (config/cache.py): Django's, with one client per connection pool
instead of a new one per operation; what it stores and the pool it talks through are Django's."""

import uuid

import pytest
from django.core.cache import caches
from django.test import override_settings

from tests.processes import redis_url


@pytest.fixture
def redis_cache():
    with override_settings(CACHES={"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": redis_url()}}):
        cache = caches["default"]
        yield cache
        cache.close()


def test_every_operation_goes_through_one_client_and_its_pool(redis_cache):
    key = f"test-cache-backend:{uuid.uuid4().hex}"
    client = redis_cache._cache
    first = client.get_client(key, write=True)

    assert redis_cache.add(key, {"version": "a:0"}, 60) is True
    assert redis_cache.get(key) == {"version": "a:0"}
    redis_cache.set(key, {"version": "b:0"}, None)
    assert redis_cache.get(key) == {"version": "b:0"}
    assert redis_cache.delete(key) is True and redis_cache.get(key) is None

    assert client.get_client(key) is first and client.get_client(key, write=True) is first
    assert first.connection_pool is client._get_connection_pool(write=True)
