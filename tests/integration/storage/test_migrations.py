"""Catalog schema migrations on a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import psycopg
import pytest

from storage import migrate
from storage.catalog import Catalog

CATALOG_TABLES = {
    "analytics_erasures",
    "billing_events",
    "comments",
    "drm_keys",
    "login_failures",
    "mail_outbox",
    "password_resets",
    "plans",
    "playlist_items",
    "playlists",
    "refresh_tokens",
    "registrations",
    "stream_assets",
    "subscriptions",
    "trending_videos",
    "uploads",
    "users",
    "video_captions",
    "video_rating_events",
    "video_ratings",
    "videos",
}


def tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows} - {"alembic_version"}


def functions(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
        ).fetchall()
    return {name for (name,) in rows}


def test_upgrade_creates_the_catalog_on_an_empty_database(empty_database_dsn: str) -> None:
    assert migrate.current(empty_database_dsn) is None

    migrate.upgrade(empty_database_dsn)

    assert migrate.current(empty_database_dsn) == migrate.head() == "0009"
    assert tables(empty_database_dsn) == CATALOG_TABLES


def test_upgrade_twice_is_harmless(catalog_dsn: str) -> None:
    with Catalog(catalog_dsn) as catalog:
        user = catalog.create_user("keep@example.com", "hash")

    migrate.upgrade(catalog_dsn)

    assert migrate.current(catalog_dsn) == migrate.head()
    with Catalog(catalog_dsn) as catalog:
        assert catalog.get_user(user.id).email == "keep@example.com"


def test_concurrent_upgrades_from_other_processes_apply_the_schema_once(
    empty_database_dsn: str,
) -> None:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=spawn) as pool:
        for future in [pool.submit(migrate.upgrade, empty_database_dsn) for _ in range(4)]:
            future.result()

    assert migrate.current(empty_database_dsn) == migrate.head()
    assert tables(empty_database_dsn) == CATALOG_TABLES


def test_concurrent_upgrades_from_threads_of_one_process(empty_database_dsn: str) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        for future in [pool.submit(migrate.upgrade, empty_database_dsn) for _ in range(3)]:
            future.result()

    assert migrate.current(empty_database_dsn) == migrate.head()


def test_downgrade_to_base_then_upgrade_again(catalog_dsn: str) -> None:
    migrate.downgrade(catalog_dsn, "base")

    assert migrate.current(catalog_dsn) is None
    assert tables(catalog_dsn) == set()
    assert functions(catalog_dsn) == set()

    migrate.upgrade(catalog_dsn)

    assert tables(catalog_dsn) == CATALOG_TABLES
    with Catalog(catalog_dsn) as catalog:
        user = catalog.create_user("again@example.com", "hash")
        assert catalog.get_user_by_email("AGAIN@example.com") == user


def test_a_failing_revision_leaves_the_database_untouched(empty_database_dsn: str) -> None:
    # A table the first revision wants to create makes it fail halfway through.
    with psycopg.connect(empty_database_dsn) as conn:
        conn.execute("CREATE TABLE uploads (id integer)")

    with pytest.raises(Exception, match="already exists"):
        migrate.upgrade(empty_database_dsn)

    assert migrate.current(empty_database_dsn) is None
    assert tables(empty_database_dsn) == {"uploads"}
    assert functions(empty_database_dsn) == set()


def test_sqlalchemy_url_uses_the_psycopg_driver() -> None:
    dsn = "postgresql://u:p%40ss@127.0.0.1:55432/db"

    assert migrate.sqlalchemy_url(dsn) == "postgresql+psycopg://u:p%40ss@127.0.0.1:55432/db"
    assert migrate.sqlalchemy_url("postgres://h/db") == "postgresql+psycopg://h/db"
    with pytest.raises(ValueError):
        migrate.sqlalchemy_url("mysql://h/db")
