"""The sign-in throttle's failure counts against a real PostgreSQL database."""

from __future__ import annotations

import psycopg
import pytest

from storage.catalog import Catalog, InvalidValue

WINDOW_S = 3600
ACCOUNT = "account:ann@example.com"
ADDRESS = "address:192.0.2.1"


def test_an_attempt_counts_against_every_key_until_one_is_at_its_limit(catalog: Catalog) -> None:
    first = catalog.begin_login_attempt([ACCOUNT, ADDRESS], WINDOW_S, max_failures=2)
    catalog.record_login_failure(ACCOUNT)

    assert first is not None and len(first) == 2
    assert catalog.recent_login_failures(ACCOUNT, WINDOW_S) == 2
    assert catalog.recent_login_failures(ADDRESS, WINDOW_S) == 1
    # The account is at its limit: the attempt is refused and counts against neither key.
    assert catalog.begin_login_attempt([ACCOUNT, ADDRESS], WINDOW_S, max_failures=2) is None
    assert catalog.recent_login_failures(ADDRESS, WINDOW_S) == 1
    assert catalog.begin_login_attempt([ADDRESS], WINDOW_S, max_failures=2) is not None


def test_a_successful_attempt_is_forgotten(catalog: Catalog) -> None:
    attempt = catalog.begin_login_attempt([ACCOUNT, ADDRESS], WINDOW_S, max_failures=5)
    assert attempt is not None
    catalog.record_login_failure(ACCOUNT)

    for failure_id in attempt:
        catalog.forget_login_failure(failure_id)

    assert catalog.recent_login_failures(ACCOUNT, WINDOW_S) == 1
    assert catalog.recent_login_failures(ADDRESS, WINDOW_S) == 0
    catalog.clear_login_failures(ACCOUNT)
    assert catalog.recent_login_failures(ACCOUNT, WINDOW_S) == 0


def test_seconds_until_login_allowed(catalog: Catalog) -> None:
    assert catalog.seconds_until_login_allowed(ACCOUNT, WINDOW_S, max_failures=2) == 0.0
    catalog.record_login_failure(ACCOUNT)
    assert catalog.seconds_until_login_allowed(ACCOUNT, WINDOW_S, max_failures=2) == 0.0

    catalog.record_login_failure(ACCOUNT)

    wait_s = catalog.seconds_until_login_allowed(ACCOUNT, WINDOW_S, max_failures=2)
    assert WINDOW_S - 60 < wait_s <= WINDOW_S
    with pytest.raises(InvalidValue):
        catalog.seconds_until_login_allowed(ACCOUNT, WINDOW_S, max_failures=0)


def test_failures_older_than_the_window_stop_counting_and_are_deleted(
    catalog: Catalog, catalog_dsn: str
) -> None:
    catalog.record_login_failure(ACCOUNT)
    catalog.record_login_failure(ADDRESS)
    with psycopg.connect(catalog_dsn) as conn:
        conn.execute("UPDATE login_failures SET failed_at = now() - interval '2 hours'")

    assert catalog.recent_login_failures(ACCOUNT, WINDOW_S) == 0
    assert catalog.seconds_until_login_allowed(ACCOUNT, WINDOW_S, max_failures=1) == 0.0
    assert catalog.begin_login_attempt([ACCOUNT], WINDOW_S, max_failures=1) is not None
    with psycopg.connect(catalog_dsn) as conn:
        keys = conn.execute("SELECT throttle_key FROM login_failures").fetchall()
    # The stale failures of every key went; only the new attempt is left.
    assert keys == [(ACCOUNT,)]
