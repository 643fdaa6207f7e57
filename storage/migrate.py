"""Schema migrations of the catalog database, run with Alembic from code (no alembic.ini).

`upgrade` is safe to call at every start-up of every process: an up-to-date database is left
alone, and concurrent callers are serialised by an advisory lock in `migrations/env.py`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Alembic's `context` and `op` are module-level proxies: one command per process at a time.
_ALEMBIC_LOCK = threading.Lock()


def execute_all(statements: Sequence[str]) -> None:
    """Run a revision's statements in order, in the migration's transaction."""
    for statement in statements:
        op.execute(statement)


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy URL for a libpq DSN, using the psycopg 3 driver."""
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        raise ValueError(f"not a postgresql:// URL: {dsn!r}")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme.startswith("postgresql+"):
        return dsn
    raise ValueError(f"not a postgresql:// URL: {dsn!r}")


def alembic_config(dsn: str | None = None) -> Config:
    """An Alembic configuration for the catalog migrations, against `dsn` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if dsn is not None:
        # Config values go through ConfigParser interpolation: a '%' in a password is doubled.
        config.set_main_option("sqlalchemy.url", sqlalchemy_url(dsn).replace("%", "%%"))
    return config


def upgrade(dsn: str, revision: str = "head") -> None:
    """Bring the database at `dsn` up to `revision`; a no-op when it is already there."""
    with _ALEMBIC_LOCK:
        command.upgrade(alembic_config(dsn), revision)


def downgrade(dsn: str, revision: str = "base") -> None:
    """Take the database at `dsn` down to `revision` (`base` drops the whole catalog)."""
    with _ALEMBIC_LOCK:
        command.downgrade(alembic_config(dsn), revision)


def current(dsn: str) -> str | None:
    """The revision the database at `dsn` is at, or None when no migration has run."""
    engine = create_engine(sqlalchemy_url(dsn), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str | None:
    """The newest revision among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
