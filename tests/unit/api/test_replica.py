"""When lagging reads go to the standby, fall back to the primary, and try the standby again."""

from __future__ import annotations

import logging
from typing import cast

import psycopg
import pytest

from api.replica import LaggingReads
from storage.catalog import Catalog

PRIMARY = cast(Catalog, "primary")
STANDBY = cast(Catalog, "standby")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_standby_serves_until_it_fails_then_the_primary_for_the_retry_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    reads = LaggingReads(PRIMARY, STANDBY, retry_s=5.0, clock=clock)
    down = False
    asked: list[Catalog] = []

    def read(catalog: Catalog) -> Catalog:
        asked.append(catalog)
        if catalog is STANDBY and down:
            raise psycopg.OperationalError("connection refused")
        return catalog

    assert reads.run(read) is STANDBY
    assert reads.run(read, fresh=True) is PRIMARY
    down = True
    with caplog.at_level(logging.WARNING, logger="api.replica"):
        # The failing read is answered by the primary in the same call.
        assert reads.run(read) is PRIMARY
        assert asked[-2:] == [STANDBY, PRIMARY]
        clock.now += 4.9
        assert reads.run(read) is PRIMARY and asked[-1] is PRIMARY  # standby left alone
        clock.now += 0.2
        assert reads.run(read) is PRIMARY and asked[-2:] == [STANDBY, PRIMARY]  # tried again
        down = False
        clock.now += 5.0
        assert reads.run(read) is STANDBY
        assert reads.run(read) is STANDBY
    messages = [record.getMessage() for record in caplog.records]
    assert sum("failed a read" in m for m in messages) == 1
    assert sum("answers again" in m for m in messages) == 1


def test_a_read_in_flight_when_the_standby_stops_does_not_bring_it_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    reads = LaggingReads(PRIMARY, STANDBY, retry_s=5.0, clock=clock)
    asked: list[Catalog] = []

    def failing(catalog: Catalog) -> Catalog:
        asked.append(catalog)
        if catalog is STANDBY:
            raise psycopg.OperationalError("terminating connection")
        return catalog

    def in_flight(catalog: Catalog) -> Catalog:
        # While this read runs on the standby, the standby stops and another read fails on it.
        clock.now += 0.1
        assert reads.run(failing) is PRIMARY
        return catalog

    with caplog.at_level(logging.WARNING, logger="api.replica"):
        assert reads.run(in_flight) is STANDBY
        clock.now += 1.0
        # Still within the retry window of the failure: the standby is left alone.
        assert reads.run(failing) is PRIMARY and asked[-1] is PRIMARY
    messages = [record.getMessage() for record in caplog.records]
    assert sum("failed a read" in m for m in messages) == 1
    assert not any("answers again" in m for m in messages)


def test_without_a_standby_everything_reads_the_primary() -> None:
    reads = LaggingReads(PRIMARY, None, retry_s=5.0)
    assert reads.run(lambda catalog: catalog) is PRIMARY


def test_errors_that_are_not_the_standby_being_out_are_raised() -> None:
    reads = LaggingReads(PRIMARY, STANDBY, retry_s=5.0)

    def read(catalog: Catalog) -> None:
        raise psycopg.errors.UndefinedTable("relation missing")

    with pytest.raises(psycopg.errors.UndefinedTable):
        reads.run(read)
