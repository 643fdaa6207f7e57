"""Alembic environment of the catalog schema, driven by `storage.migrate` (there is no alembic.ini).

Revisions are hand-written SQL, so there is no target metadata and no autogenerate.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

# Any constant shared by every process that migrates this database; the value spells "reelflow".
MIGRATION_LOCK_KEY = 0x7265656C666C6F77

config = context.config


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url", ""), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # One transaction for the whole run: PostgreSQL DDL is transactional, so a failed
        # revision leaves the schema exactly as it was.
        context.configure(connection=connection, transaction_per_migration=False)
        with context.begin_transaction():
            # The API and Dagster may start at the same moment; the second waits here and then
            # reads the version the first one committed, instead of applying a revision twice.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
