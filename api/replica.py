"""Reads that tolerate a little lag, from the PostgreSQL standby while it answers.

Feed candidates, the trending chart and ranking, and what an anonymous visitor searches or
lists (comments) may be a moment behind the primary: they go to the standby
(`REELFLOW_POSTGRES_REPLICA_DSN`) and leave the primary to writes and to reads that must see the
caller's own writes. When the standby fails a read, the same read runs on the primary within the
same request, the failure is logged once, and the standby is left alone for
`replica_retry_s` before it is tried again; its first answer after that is logged too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from storage.catalog import Catalog

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a standby that is down, restarting or unreachable raises, and what it raises when it
# cancels a read that conflicts with replaying the primary's changes.
UNAVAILABLE = (psycopg.OperationalError, PoolTimeout, psycopg.errors.SerializationFailure)


class LaggingReads:
    """Runs a catalog read on the standby when there is one that answers, else on the primary."""

    def __init__(
        self,
        primary: Catalog,
        replica: Catalog | None,
        *,
        retry_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.retry_s = retry_s
        self.clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None

    def run(self, read: Callable[[Catalog], T], *, fresh: bool = False) -> T:
        """`read(catalog)` on the standby, or on the primary while the standby is out or when
        the read must be `fresh` (it may show what the caller has just written)."""
        replica = self.replica
        if replica is None or fresh or not self._worth_trying():
            return read(self.primary)
        started = self.clock()
        try:
            result = read(replica)
        except UNAVAILABLE as exc:
            self._failed(exc)
            return read(self.primary)
        self._answered(started)
        return result

    def state(self) -> str:
        """`ok`, `not configured` or `down: <error>`, as `/readyz` reports it."""
        if self.replica is None:
            return "not configured"
        try:
            self.replica.ping(timeout_s=1.0)
        except Exception as exc:  # noqa: BLE001 - any failure means "down"
            return f"down: {type(exc).__name__}"
        return "ok"

    def close(self) -> None:
        if self.replica is not None:
            self.replica.close()

    def _worth_trying(self) -> bool:
        with self._lock:
            return self._down_since is None or self.clock() - self._down_since >= self.retry_s

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            first = self._down_since is None
            self._down_since = self.clock()
        if first:
            log.warning("PostgreSQL standby failed a read (%s); reading from the primary", exc)

    def _answered(self, started: float) -> None:
        with self._lock:
            # A read begun before the standby was found down and answered since (in flight
            # when it stopped) says nothing of the standby now: only a read begun later does.
            if self._down_since is None or started < self._down_since:
                return
            self._down_since = None
        log.warning("PostgreSQL standby answers again; lagging reads go back to it")
