"""The Redis cache backend of CACHES, with one Redis client per connection pool.

Django's own client builds a new `redis.Redis` object for every cache operation, and each
copies redis-py's table of some 160 response callbacks: about a tenth of a millisecond of
Python per get or set, more than the round trip to a local Redis. A `redis.Redis` is only a
front to its connection pool and holds no connection of its own (after a fork the pool
reconnects by itself), so each pool gets one, kept as long as the pool. Django keeps a cache
object, and with it its pools, per thread: one client per sync worker, one per thread of a
threaded one. Everything else is Django's RedisCache unchanged.
"""

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)  # Django's: made once per server, kept in self._pools
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
