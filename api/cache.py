"""Redis shared by every API worker: cached reads and rate-limit counters, or nothing.

Redis is a fast layer, never the source of truth. When it is not configured or does not answer,
every read is a miss and every write is dropped, so requests go to PostgreSQL and Cassandra as
if there were no cache; the rate limiter asks `available` to fail open or closed. After a
failure the worker leaves Redis alone for a cool-down (a circuit breaker): requests do not each
wait for a timeout while it is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from api.breaker import CircuitBreaker
from api.metrics import count_cache_read
from reelflow.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# A fixed window per key (ARGV[i] ms), started by its first hit; returns, key by key, the hits
# so far and the milliseconds left in the window.
_HIT = """
local counted = {}
for i, key in ipairs(KEYS) do
  local hits = redis.call('INCR', key)
  if hits == 1 then redis.call('PEXPIRE', key, ARGV[i]) end
  local left = redis.call('PTTL', key)
  if left < 0 then redis.call('PEXPIRE', key, ARGV[i]); left = tonumber(ARGV[i]) end
  table.insert(counted, hits)
  table.insert(counted, left)
end
return counted
"""
# HSET a field unless the guard key has changed since it was read (ARGV[4], '' for none), and
# expire the hash `ARGV[3]` ms after its first field.
_HSET_IF_UNCHANGED = """
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3], 'NX')
return 1
"""


class SharedCache:
    """The API's Redis under the deployment's key namespace, behind a circuit breaker."""

    def __init__(self, settings: Settings) -> None:
        self._namespace = settings.redis_namespace
        self._cooldown_s = settings.redis_cooldown_s
        self._client: redis.Redis | None = None
        if settings.redis_url is not None:
            self._client = redis.Redis.from_url(
                settings.redis_url.get_secret_value(),
                socket_timeout=settings.redis_timeout_s,
                socket_connect_timeout=settings.redis_timeout_s,
                retry=Retry(NoBackoff(), 0),
                max_connections=settings.redis_pool_max,
            )
        self._breaker = CircuitBreaker(failures=1, cooldown_s=settings.redis_cooldown_s)
        self._hit = self._script(_HIT)
        self._hset_if_unchanged = self._script(_HSET_IF_UNCHANGED)

    def key(self, *parts: object) -> str:
        return ":".join((self._namespace, *map(str, parts)))

    def available(self) -> bool:
        """Configured, and not cooling down after a failure."""
        return self._client is not None and self._breaker.allow()

    def state(self) -> str:
        """`ok`, `not configured`, or `down: <why>` (answered by a PING unless cooling down)."""
        if self._client is None:
            return "not configured"
        if self.available():
            self._call(self._client.ping, None)
        return "ok" if self.available() else f"down: {self._breaker.last_error}"

    def read_through(
        self,
        key: str,
        field: str,
        load: Callable[[], T],
        dump: Callable[[T], str | None],
        parse: Callable[[bytes], T],
        ttl_s: float,
    ) -> T:
        """`field` of the hash `key` as `parse` reads it; on a miss, `load()`, kept as `dump`
        writes it (None: not kept) until `ttl_s` after the hash's first field was set.

        A value loaded before `drop(key)` is never written after it: the write is refused when
        the key's change marker moved while `load` ran.
        """
        client = self._client
        if client is None:
            count_cache_read(self._cache_name(key), hit=False)
            return load()
        cached = self._call(lambda: _bytes(client.hget(key, field)), None)
        count_cache_read(self._cache_name(key), hit=cached is not None)
        if cached is not None:
            return parse(cached)
        marker = self._marker(key)
        seen = self._call(lambda: _bytes(client.get(marker)), None)
        value = load()
        dumped = dump(value)
        script = self._hset_if_unchanged
        if dumped is not None and script is not None:
            args: list[str | bytes | int] = [field, dumped, _ms(ttl_s), seen or b""]
            self._call(lambda: script(keys=[key, marker], args=args), None)
        return value

    def drop(self, key: str, marker_ttl_s: float) -> None:
        """Delete the hash `key` and move its change marker (kept `marker_ttl_s`, longer than
        any `load` of `read_through` takes)."""
        client = self._client
        if client is None:
            return

        def write() -> None:
            with client.pipeline(transaction=True) as pipe:
                pipe.incr(self._marker(key))
                pipe.pexpire(self._marker(key), _ms(marker_ttl_s))
                pipe.delete(key)
                pipe.execute()

        self._call(write, None)

    def _cache_name(self, key: str) -> str:
        """What a key's entries are (`sessions`, `video`, `feed` …): the part after the
        namespace, a label of few values."""
        return key.removeprefix(f"{self._namespace}:").split(":", 1)[0]

    def _marker(self, key: str) -> str:
        return f"{key}:changed"

    def hit(self, windows: dict[str, float]) -> list[tuple[int, float]] | None:
        """Count a hit on each key in its window of `windows[key]` seconds, in one round trip:
        (hits so far, seconds left) per key; None if Redis is unavailable."""
        script = self._hit
        if script is None:
            return None
        keys = list(windows)
        args = [_ms(window_s) for window_s in windows.values()]

        def count() -> list[tuple[int, float]]:
            flat = script(keys=keys, args=args)
            return [(int(flat[i]), int(flat[i + 1]) / 1000) for i in range(0, len(flat), 2)]

        return self._call(count, None)

    def _script(self, source: str) -> Script | None:
        return None if self._client is None else self._client.register_script(source)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _call(self, operation: Callable[[], T], fallback: T) -> T:
        if not self.available():
            return fallback
        try:
            value = operation()
        except redis.RedisError as exc:
            self._breaker.failed(exc)
            log.warning(
                "Redis failed (%s: %s); serving without it for %.1f s",
                type(exc).__name__,
                exc,
                self._cooldown_s,
            )
            return fallback
        self._breaker.succeeded()
        return value


def _bytes(value: object) -> bytes | None:
    # The client answers bytes (no `decode_responses`) or None for a missing key.
    return value if isinstance(value, bytes) else None


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
