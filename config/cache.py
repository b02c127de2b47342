"""Django's Redis cache, made to degrade instead of failing requests while Redis is down.

Nothing Threadline keeps in the cache is the only copy of anything (sessions and sign-in limits
live in the database), so an unreachable Redis is treated as an empty cache: reads miss, writes
are dropped. Only connection errors and timeouts are tolerated; any other Redis error is a bug and
is raised as before. Pair it with short socket timeouts (``CACHES`` OPTIONS) so a Redis that does
not answer costs a request about a second, not a TCP timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

REDIS_OUTAGE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# One warning per process per this many seconds: an outage must be visible, not flood the log.
WARN_EVERY_SECONDS = 60.0

T = TypeVar("T")


class DegradingRedisCache(RedisCache):
    """``RedisCache`` whose operations answer as a miss (or drop the write) while Redis is unreachable."""

    _last_warning = float("-inf")

    def _tolerant(self, fallback: T, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return operation(*args, **kwargs)
        except REDIS_OUTAGE_ERRORS as exc:
            now = time.monotonic()
            if now - DegradingRedisCache._last_warning >= WARN_EVERY_SECONDS:
                DegradingRedisCache._last_warning = now
                logger.warning("cache unavailable, serving without it: %s: %s", exc.__class__.__name__, exc)
            return fallback

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._tolerant(False, super().add, key, value, timeout, version)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._tolerant(default, super().get, key, default, version)

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._tolerant(None, super().set, key, value, timeout, version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._tolerant(False, super().touch, key, timeout, version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._tolerant(False, super().delete, key, version)

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        return self._tolerant({}, super().get_many, keys, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._tolerant(False, super().has_key, key, version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except REDIS_OUTAGE_ERRORS as exc:
            # What incr does for a missing key; callers already handle it.
            raise ValueError(f"Key '{key}' not found (cache unavailable)") from exc

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> list[Any]:
        return self._tolerant(list(data), super().set_many, data, timeout, version)

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        self._tolerant(None, super().delete_many, keys, version)

    def clear(self) -> None:
        self._tolerant(None, super().clear)
