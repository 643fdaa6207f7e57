"""A count of the statements a store has sent, for tests that keep hot paths lean and for
metrics."""

from __future__ import annotations

import threading


class RoundTrips:
    """Statements sent so far; safe to count from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self, *_: object) -> None:
        """Count one statement (any arguments are ignored, so this can be a driver callback)."""
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count
