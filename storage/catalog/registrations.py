"""Accounts made and recovered by mail: registrations confirmed by their address's owner, and
password resets.

Registering answers the same whether the address has an account or not; only the mailbox
learns which: a new address gets a link that creates the account, a known one a note that it
has one. Links are single-use secrets stored as digests; the secret itself is in the queued
message only until it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

from psycopg import errors, sql
from psycopg.types.json import Jsonb

from reelflow.mail import MailKind
from storage.catalog.base import CatalogBase, _columns, _fetch_one, _one
from storage.catalog.errors import EmailTaken, NotFound
from storage.catalog.models import Role, User
from storage.catalog.outbox import _enqueue_mail
from storage.catalog.sessions import _revoke_user_refresh_tokens


class Registrations(CatalogBase):
    """The `registrations` and `password_resets` tables."""

    def start_registration(
        self,
        email: str,
        password_hash: str,
        *,
        role: Role,
        profile_data: Mapping[str, Any],
        token: str,
        digest: bytes,
        ttl: timedelta,
    ) -> bool:
        """Queue the mail that lets the owner of `email` create this account (or tells them
        they have one); False when the address had its share of such mail this hour and none
        was queued. Nothing here says which of the two it was."""
        email = email.strip()
        with self._transaction() as conn:
            conn.execute("DELETE FROM registrations WHERE expires_at <= now()")
            known = conn.execute(
                "SELECT 1 FROM users WHERE lower(email) = lower(%s)", (email,)
            ).fetchone()
            if known is not None:
                return _enqueue_mail(conn, MailKind.ACCOUNT_EXISTS, {}, to_address=email)
            if not _enqueue_mail(
                conn, MailKind.CONFIRM_REGISTRATION, {"token": token}, to_address=email
            ):
                return False
            conn.execute(
                "INSERT INTO registrations"
                " (token_digest, email, password_hash, role, profile_data, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, now() + %s)",
                (digest, email, password_hash, role, Jsonb(dict(profile_data)), ttl),
            )
        return True

    def confirm_registration(self, digest: bytes) -> User:
        """Create the account of the registration whose link this is; NotFound for an unknown,
        used or expired link, EmailTaken when the address got an account meanwhile. Other
        registrations of the same address end with it."""
        insert = sql.SQL(
            "INSERT INTO users (email, password_hash, role, profile_data)"
            " SELECT email, password_hash, role, profile_data FROM registrations"
            " WHERE token_digest = %s RETURNING {}"
        ).format(_columns(User))
        try:
            with self._transaction() as conn:
                found = conn.execute(
                    "SELECT email FROM registrations WHERE token_digest = %s"
                    " AND expires_at > now() FOR UPDATE",
                    (digest,),
                ).fetchone()
                if found is None:
                    raise NotFound("registration link")
                user = _one(conn, User, insert, (digest,))
                conn.execute(
                    "DELETE FROM registrations WHERE lower(email) = lower(%s)", (found[0],)
                )
        except errors.UniqueViolation as exc:
            raise EmailTaken("the address got an account meanwhile") from exc
        return user

    def start_password_reset(
        self, email: str, *, token: str, digest: bytes, ttl: timedelta
    ) -> bool:
        """Queue a reset link for the live account of `email`; False when there is none, or it
        had its share of such mail this hour."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM password_resets WHERE expires_at <= now()")
            row = conn.execute(
                "SELECT id FROM users WHERE lower(email) = lower(%s) AND deleted_at IS NULL",
                (email.strip(),),
            ).fetchone()
            if row is None:
                return False
            user_id: UUID = row[0]
            if not _enqueue_mail(conn, MailKind.PASSWORD_RESET, {"token": token}, user_id=user_id):
                return False
            conn.execute(
                "INSERT INTO password_resets (token_digest, user_id, expires_at)"
                " VALUES (%s, %s, now() + %s)",
                (digest, user_id, ttl),
            )
        return True

    def finish_password_reset(self, digest: bytes, password_hash: str) -> User:
        """Set the password of the account whose reset link this is, end every one of its
        sessions and links; NotFound for an unknown, used or expired link or a closed account."""
        update = sql.SQL(
            "UPDATE users SET password_hash = %s WHERE id = %s AND deleted_at IS NULL RETURNING {}"
        ).format(_columns(User))
        with self._transaction() as conn:
            row = conn.execute(
                "DELETE FROM password_resets WHERE token_digest = %s AND expires_at > now()"
                " RETURNING user_id",
                (digest,),
            ).fetchone()
            if row is None:
                raise NotFound("password reset link")
            user = _fetch_one(conn, User, update, (password_hash, row[0]))
            if user is None:
                raise NotFound("password reset link")
            conn.execute("DELETE FROM password_resets WHERE user_id = %s", (user.id,))
            _revoke_user_refresh_tokens(conn, user.id)
        self._changed("user", user.id)
        return user
