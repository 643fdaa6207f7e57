"""Accounts: creating, reading, changing, deactivating and erasing users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import errors, sql
from psycopg.types.json import Jsonb

from storage.catalog.analytics_erasures import _insert_analytics_erasure
from storage.catalog.base import (
    CatalogBase,
    Connection,
    _assignments,
    _columns,
    _fetch_one,
    _found,
    _one,
)
from storage.catalog.errors import EmailTaken, NotFound
from storage.catalog.models import Role, User
from storage.catalog.ratings import erase_community


class Users(CatalogBase):
    """The `users` table: accounts, their roles and profiles, deactivation and erasure."""

    def create_user(
        self,
        email: str,
        password_hash: str,
        *,
        role: Role = Role.VIEWER,
        profile_data: Mapping[str, Any] | None = None,
    ) -> User:
        """Add an account; raises EmailTaken when the address is used in any letter case."""
        email = email.strip()
        query = sql.SQL(
            "INSERT INTO users (email, password_hash, role, profile_data)"
            " VALUES (%s, %s, %s, %s) RETURNING {}"
        ).format(_columns(User))
        try:
            with self._transaction() as conn:
                return _one(
                    conn, User, query, (email, password_hash, role, Jsonb(dict(profile_data or {})))
                )
        except errors.UniqueViolation as exc:
            raise EmailTaken(f"email {email!r} is taken") from exc

    def get_user(self, user_id: UUID) -> User:
        """The account with this id, erased or not."""
        with self._transaction() as conn:
            return _user(conn, user_id)

    def get_user_by_email(self, email: str) -> User:
        """The account with this email address, compared case-insensitively.

        Soft-deleted accounts are found too: callers that log people in check `deleted_at`.
        """
        query = sql.SQL("SELECT {} FROM users WHERE lower(email) = lower(%s)").format(
            _columns(User)
        )
        return self._row(User, query, (email.strip(),), f"user {email!r}")

    def update_user(
        self,
        user_id: UUID,
        *,
        email: str | None = None,
        password_hash: str | None = None,
        role: Role | None = None,
        profile_data: Mapping[str, Any] | None = None,
    ) -> User:
        """Change the given fields of a live account (None leaves a field as it is)."""
        changes: dict[str, object] = {}
        if email is not None:
            changes["email"] = email.strip()
        if password_hash is not None:
            changes["password_hash"] = password_hash
        if role is not None:
            changes["role"] = role
        if profile_data is not None:
            changes["profile_data"] = Jsonb(dict(profile_data))
        if not changes:
            user = self.get_user(user_id)
            if user.deleted_at is not None:
                raise NotFound(f"user {user_id} is deleted")
            return user
        query = sql.SQL(
            "UPDATE users SET {} WHERE id = %s AND deleted_at IS NULL RETURNING {}"
        ).format(_assignments(changes), _columns(User))
        try:
            user = self._row(User, query, (*changes.values(), user_id), f"live user {user_id}")
        except errors.UniqueViolation as exc:
            raise EmailTaken(f"email {email!r} is taken") from exc
        self._changed("user", user_id)
        return user

    def soft_delete_user(self, user_id: UUID) -> User:
        """Deactivate an account and keep its data; see `erase_user` to anonymise it."""
        query = sql.SQL(
            "UPDATE users SET deleted_at = coalesce(deleted_at, now()) WHERE id = %s RETURNING {}"
        ).format(_columns(User))
        user = self._row(User, query, (user_id,), f"user {user_id}")
        self._changed("user", user_id)
        return user

    def erase_user(self, user_id: UUID, *, analytics_days: Iterable[date] = ()) -> User:
        """Anonymise an account: address replaced, password and profile cleared, comments orphaned,
        ratings and playlists removed.

        Videos and subscriptions stay: the first are the platform's content, the second are
        billing records the law makes us keep. Erasing twice is harmless. `analytics_days`, the
        days the account's viewing was aggregated on, are queued for rebuilding in the same
        transaction (see `request_analytics_erasure`).
        """
        query = sql.SQL(
            "UPDATE users SET email = 'erased-' || id || '@erased.invalid', password_hash = NULL,"
            " profile_data = '{{}}', deleted_at = coalesce(deleted_at, now())"
            " WHERE id = %s RETURNING {}"
        ).format(_columns(User))
        with self._transaction() as conn:
            user = _found(_fetch_one(conn, User, query, (user_id,)), f"user {user_id}")
            conn.execute("UPDATE comments SET user_id = NULL WHERE user_id = %s", (user_id,))
            rated = erase_community(conn, user_id)
            _insert_analytics_erasure(conn, analytics_days)
        self._changed("user", user_id)
        for video_id in rated:
            self._changed("video", video_id)
        return user


def _user(conn: Connection, user_id: UUID) -> User:
    """The account with this id, erased or not, read on the caller's connection."""
    query = sql.SQL("SELECT {} FROM users WHERE id = %s").format(_columns(User))
    return _found(_fetch_one(conn, User, query, (user_id,)), f"user {user_id}")
