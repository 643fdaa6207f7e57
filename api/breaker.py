"""Circuit breakers: after repeated failures of a dependency, fail fast for a cool-down instead
of making every request wait for its timeout; then try the dependency again."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed while calls succeed; open for `cooldown_s` after `failures` failures in a row;
    then calls go through again, and the first outcome closes it or opens it anew."""

    def __init__(
        self,
        *,
        failures: int,
        cooldown_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1 or cooldown_s <= 0:
            raise ValueError("a breaker opens after at least one failure, for some time")
        self._threshold = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self.last_error = ""

    def allow(self) -> bool:
        """Whether a call may go to the dependency now (closed, or the cool-down is over)."""
        return self._failures < self._threshold or self._clock() >= self._open_until

    def retry_after_s(self) -> int:
        """Whole seconds until the breaker lets a call through (at least 1)."""
        return max(1, math.ceil(self._open_until - self._clock()))

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0

    def failed(self, error: BaseException | str) -> None:
        with self._lock:
            self._failures += 1
            self.last_error = error if isinstance(error, str) else type(error).__name__
            if self._failures >= self._threshold:
                self._open_until = self._clock() + self._cooldown_s
