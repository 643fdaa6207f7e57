"""The queue of days to rebuild after an erasure, against a real PostgreSQL database."""

from __future__ import annotations

from datetime import date

from storage.catalog import Catalog

DAY = date(2026, 3, 1)


def test_requests_are_read_in_order_after_an_id(catalog: Catalog) -> None:
    catalog.request_analytics_erasure([date(2026, 3, 2), DAY, date(2026, 3, 2)])
    catalog.request_analytics_erasure([date(2026, 3, 5)])
    catalog.request_analytics_erasure([date(2026, 3, 7)])

    queued = catalog.list_analytics_erasures(after_id=0)

    assert [request.days for request in queued] == [
        [DAY, date(2026, 3, 2)],
        [date(2026, 3, 5)],
        [date(2026, 3, 7)],
    ]
    assert queued[0].id < queued[1].id < queued[2].id
    later = catalog.list_analytics_erasures(after_id=queued[0].id, limit=1)
    assert later == [queued[1]]
    assert catalog.list_analytics_erasures(after_id=queued[2].id) == []


def test_no_days_queue_nothing(catalog: Catalog) -> None:
    catalog.request_analytics_erasure([])
    user = catalog.create_user("ann@example.com", "hash")
    catalog.erase_user(user.id)

    assert catalog.list_analytics_erasures(after_id=0) == []


def test_erasing_an_account_queues_its_days(catalog: Catalog) -> None:
    user = catalog.create_user("ann@example.com", "hash")

    catalog.erase_user(user.id, analytics_days=[date(2026, 3, 3), DAY])

    [request] = catalog.list_analytics_erasures(after_id=0)
    assert request.days == [DAY, date(2026, 3, 3)]
