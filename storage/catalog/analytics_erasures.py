"""Analytics erasures: days whose viewing datasets must be rebuilt without an erased account."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from psycopg import sql

from storage.catalog.base import CatalogBase, Connection, _columns
from storage.catalog.models import AnalyticsErasure


class AnalyticsErasures(CatalogBase):
    """The queue of days to rebuild, which an erasure sensor reads in order."""

    def request_analytics_erasure(self, days: Iterable[date]) -> None:
        """Queue days for rebuilding because rows of an erased account remain in them."""
        with self._transaction() as conn:
            _insert_analytics_erasure(conn, days)

    def list_analytics_erasures(self, *, after_id: int, limit: int = 500) -> list[AnalyticsErasure]:
        """Erasure requests newer than `after_id`, oldest first."""
        query = sql.SQL(
            "SELECT {} FROM analytics_erasures WHERE id > %s ORDER BY id LIMIT %s"
        ).format(_columns(AnalyticsErasure))
        return self._rows(AnalyticsErasure, query, (after_id, limit))


def _insert_analytics_erasure(conn: Connection, days: Iterable[date]) -> None:
    """Queue the distinct `days` as one request; no request for no days."""
    distinct = sorted(set(days))
    if distinct:
        conn.execute("INSERT INTO analytics_erasures (days) VALUES (%s)", (distinct,))
