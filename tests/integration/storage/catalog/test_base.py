"""The catalog's pool and transaction against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

import pytest
from psycopg_pool import PoolClosed

from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog


def test_catalog_from_settings(settings: Settings, catalog_dsn: str) -> None:
    configured = settings.model_copy(update={"postgres_dsn": catalog_dsn, "postgres_pool_max": 2})

    with connect.catalog(configured) as catalog:
        user = catalog.create_user("settings@example.com", "hash")
        assert catalog.get_user(user.id) == user


def test_leaving_the_block_closes_the_pool(catalog_dsn: str) -> None:
    with Catalog(catalog_dsn, max_size=1) as catalog:
        catalog.ping()

    with pytest.raises(PoolClosed):
        catalog.ping()
    with pytest.raises(PoolClosed):
        catalog.create_user("late@example.com", "hash")


def test_database_now_is_the_clock_rows_are_written_by(catalog: Catalog) -> None:
    before = catalog.database_now()
    user = catalog.create_user("ann@example.com", "hash")
    after = catalog.database_now()

    assert before.tzinfo is not None
    assert before <= user.created_at <= after
