"""The circuit breaker's states, on a clock the test moves."""

from __future__ import annotations

import pytest

from api.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_failures_in_a_row_and_tries_again_after_the_cool_down() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown_s=10.0, clock=clock)
    breaker.failed(ConnectionError("refused"))
    breaker.failed("timed out")
    assert breaker.allow()
    breaker.succeeded()  # a success in between: the count starts over
    for _ in range(2):
        breaker.failed(TimeoutError())
    assert breaker.allow()
    breaker.failed(TimeoutError())
    assert not breaker.allow()
    assert breaker.last_error == "TimeoutError"
    assert breaker.retry_after_s() == 10
    clock.now += 9.5
    assert not breaker.allow()
    assert breaker.retry_after_s() == 1
    clock.now += 0.5
    assert breaker.allow()
    # The first call after the cool-down fails: open again at once, for a whole cool-down.
    breaker.failed(TimeoutError())
    assert not breaker.allow()
    assert breaker.retry_after_s() == 10
    clock.now += 10
    breaker.succeeded()
    assert breaker.allow()
    breaker.failed(TimeoutError())
    assert breaker.allow()


@pytest.mark.parametrize(("failures", "cooldown_s"), [(0, 1.0), (1, 0.0)])
def test_a_breaker_needs_a_threshold_and_a_cool_down(failures: int, cooldown_s: float) -> None:
    with pytest.raises(ValueError, match="at least one failure"):
        CircuitBreaker(failures=failures, cooldown_s=cooldown_s)
