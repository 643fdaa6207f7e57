"""The catalog's connection pool and transaction, and the row and SQL helpers of every aggregate.

Each aggregate module defines a class of methods on `CatalogBase`; `Catalog` combines them, so
all of them share one pool. Every public method runs in one transaction of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any, Literal, Self, TypeVar
from uuid import UUID

import psycopg
from psycopg import errors, sql
from psycopg.rows import TupleRow, class_row
from psycopg_pool import ConnectionPool

from storage.catalog.errors import InvalidValue, NotFound
from storage.catalog.models import _Model
from storage.round_trips import RoundTrips

M = TypeVar("M", bound=_Model)
Query = sql.SQL | sql.Composed
Connection = psycopg.Connection[TupleRow]
Changed = Literal["user", "video"]


class CatalogBase:
    """A connection pool to the catalog database and the transaction the methods run in."""

    def __init__(
        self, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 30.0
    ) -> None:
        # Every statement of the catalog's connections, counted.
        self.round_trips = RoundTrips()
        counted = self.round_trips

        class CountingCursor(psycopg.Cursor[Any]):
            def execute(self, *args: Any, **kwargs: Any) -> Self:
                counted.add()
                return super().execute(*args, **kwargs)

            def executemany(self, *args: Any, **kwargs: Any) -> None:
                counted.add()
                super().executemany(*args, **kwargs)

        def configure(conn: Connection) -> None:
            conn.cursor_factory = CountingCursor

        self._pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            kwargs={"application_name": "reelflow-catalog"},
            configure=configure,
            name="catalog",
            open=True,
        )
        self._listeners: dict[Changed, list[Callable[[UUID], None]]] = {"user": [], "video": []}

    def on_changed(self, kind: Changed, listener: Callable[[UUID], None]) -> None:
        """Call `listener(id)` after each committed change this catalog makes to a user (its
        account, standing or sessions) or a video, so that a cache (the API's session check,
        its public video answers) drops the entry at once."""
        self._listeners[kind].append(listener)

    def _changed(self, kind: Changed, entity_id: UUID) -> None:
        for listener in self._listeners[kind]:
            listener(entity_id)

    def close(self) -> None:
        """Close every pooled connection; the catalog is unusable afterwards."""
        self._pool.close()

    def ping(self, timeout_s: float = 5.0) -> None:
        """Raise unless the database gives a connection within `timeout_s` and answers."""
        with self._pool.connection(timeout=timeout_s) as conn:
            conn.execute("SELECT 1")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def database_now(self) -> datetime:
        """The database's clock: the one every `created_at` and `published_at` is written by."""
        with self._transaction() as conn:
            row = conn.execute("SELECT now()").fetchone()
        if row is None:
            raise RuntimeError("SELECT now() gave no row")
        now: datetime = row[0]
        return now

    def _rows(
        self, model: type[M], query: Query, params: Sequence[object] | Mapping[str, object]
    ) -> list[M]:
        """Every row of one statement, in a transaction of its own."""
        with self._transaction() as conn:
            return _all(conn, model, query, params)

    def _first(self, model: type[M], query: Query, params: Sequence[object]) -> M | None:
        """The first row of one statement, in a transaction of its own; None without a row."""
        with self._transaction() as conn:
            return _fetch_one(conn, model, query, params)

    def _row(self, model: type[M], query: Query, params: Sequence[object], what: str) -> M:
        """The row of one statement, in a transaction of its own; NotFound(`what`) without one."""
        return _found(self._first(model, query, params), what)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A pooled connection in a transaction, committed when the block ends without error."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except errors.CheckViolation as exc:
            raise InvalidValue(f"{exc.diag.message_primary} ({exc.diag.constraint_name})") from exc


@cache
def _columns(model: type[_Model], table: str | None = None) -> sql.Composed:
    """The model's fields as a select list; models name their columns exactly."""
    names = model.model_fields
    if table is None:
        return sql.SQL(", ").join(sql.Identifier(name) for name in names)
    return sql.SQL(", ").join(sql.Identifier(table, name) for name in names)


def _assignments(changes: Mapping[str, object]) -> sql.Composed:
    """`column = %s, ...` for the columns of `changes`, in their order."""
    return sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
    )


def _fetch_one(
    conn: Connection, model: type[M], query: Query, params: Sequence[object]
) -> M | None:
    with conn.cursor(row_factory=class_row(model)) as cur:
        cur.execute(query, params)
        return cur.fetchone()


def _one(conn: Connection, model: type[M], query: Query, params: Sequence[object]) -> M:
    """The row a statement always returns (an INSERT or UPDATE ... RETURNING of a known row)."""
    row = _fetch_one(conn, model, query, params)
    if row is None:
        raise RuntimeError(f"statement returned no row: {query.as_string(conn)}")
    return row


def _all(
    conn: Connection,
    model: type[M],
    query: Query,
    params: Sequence[object] | Mapping[str, object],
) -> list[M]:
    with conn.cursor(row_factory=class_row(model)) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def _found(row: M | None, what: str) -> M:
    if row is None:
        raise NotFound(what)
    return row


def _row_value(
    conn: Connection,
    table: str,
    row_id: UUID,
    *,
    column: str = "id",
    for_update: bool = False,
) -> Any:
    """One column of a row by id (locked when `for_update`); NotFound when there is no row."""
    query = sql.SQL("SELECT {} FROM {} WHERE id = %s {}").format(
        sql.Identifier(column),
        sql.Identifier(table),
        sql.SQL("FOR UPDATE" if for_update else ""),
    )
    row = conn.execute(query, (row_id,)).fetchone()
    if row is None:
        raise NotFound(f"{table.rstrip('s')} {row_id}")
    return row[0]
