"""Sign-in sessions: refresh tokens (stored as digests), their rotation and revocation.

A session is the chain of refresh tokens that began at one sign-in; each exchange revokes the
presented token and links it to its replacement.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from psycopg import errors

from storage.catalog.base import CatalogBase, Connection
from storage.catalog.errors import InvalidState, NotFound
from storage.catalog.models import User
from storage.catalog.users import _user


class Sessions(CatalogBase):
    """The `refresh_tokens` table: starting, checking, rotating and ending sessions."""

    def store_refresh_token(self, user_id: UUID, digest: bytes, expires_at: datetime) -> UUID:
        """Keep the digest of the first refresh token of a new session; returns the session id."""
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "INSERT INTO refresh_tokens (user_id, token_hash, expires_at)"
                    " VALUES (%s, %s, %s) RETURNING session_id",
                    (user_id, digest, expires_at),
                ).fetchone()
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"user {user_id}") from exc
        if row is None:
            raise RuntimeError("INSERT ... RETURNING gave no row")
        session_id: UUID = row[0]
        return session_id

    def get_session_user(self, user_id: UUID, session_id: UUID) -> User:
        """The account, while the session is live: one of its refresh tokens is neither revoked
        nor expired. NotFound for an unknown account; InvalidState once the session ended."""
        with self._transaction() as conn:
            user = _user(conn, user_id)
            live = conn.execute(
                "SELECT 1 FROM refresh_tokens WHERE session_id = %s AND user_id = %s"
                " AND revoked_at IS NULL AND expires_at > now() LIMIT 1",
                (session_id, user_id),
            ).fetchone()
        if live is None:
            raise InvalidState(f"session {session_id} of user {user_id} has ended")
        return user

    def rotate_refresh_token(
        self, old_digest: bytes, new_digest: bytes, expires_at: datetime
    ) -> tuple[UUID, UUID]:
        """Exchange a live refresh token for a new one of the same session; returns the user id
        and the session id.

        The old token is revoked and linked to its replacement in the same transaction, so it
        works exactly once. Presenting a token that was already exchanged means it was copied
        (a thief or the rightful client used it after the other), and nobody can tell which
        holder is legitimate: every token of the user is revoked and InvalidState raised. A
        token revoked otherwise (signed out, password changed) is only refused, so a device
        still holding one cannot end the sessions started since.
        NotFound for an unknown token; InvalidState when it expired or the account is deleted.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT t.id, t.user_id, t.session_id, t.revoked_at IS NOT NULL,"
                " t.replaced_by IS NOT NULL, t.expires_at <= now(), u.deleted_at IS NOT NULL"
                " FROM refresh_tokens AS t JOIN users AS u ON u.id = t.user_id"
                " WHERE t.token_hash = %s FOR UPDATE OF t",
                (old_digest,),
            ).fetchone()
            if row is None:
                raise NotFound("refresh token")
            token_id, user_id, session_id, revoked, exchanged, expired, user_deleted = row
            if revoked and not exchanged:
                raise InvalidState("the refresh token was revoked")
            if not revoked:
                if expired:
                    raise InvalidState("the refresh token has expired")
                if user_deleted:
                    raise InvalidState(f"user {user_id} is deleted")
                new = conn.execute(
                    "INSERT INTO refresh_tokens (user_id, session_id, token_hash, expires_at)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (user_id, session_id, new_digest, expires_at),
                ).fetchone()
                if new is None:
                    raise RuntimeError("INSERT ... RETURNING gave no row")
                conn.execute(
                    "UPDATE refresh_tokens SET revoked_at = now(), replaced_by = %s WHERE id = %s",
                    (new[0], token_id),
                )
                return user_id, session_id
            _revoke_user_refresh_tokens(conn, user_id)
        # Raised after the block so that the revocation above is committed, not rolled back.
        self._changed("user", user_id)
        raise InvalidState(
            f"a revoked refresh token of user {user_id} was presented; all its tokens are revoked"
        )

    def revoke_refresh_token(self, digest: bytes, *, user_id: UUID | None = None) -> bool:
        """Revoke one refresh token (only if it is `user_id`'s, when given); False if none was."""
        query = "UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = %s"
        params: tuple[object, ...] = (digest,)
        if user_id is not None:
            query += " AND user_id = %s"
            params = (digest, user_id)
        with self._transaction() as conn:
            revoked = conn.execute(
                query + " AND revoked_at IS NULL RETURNING user_id", params
            ).fetchall()
        for (owner,) in revoked:
            self._changed("user", owner)
        return bool(revoked)

    def revoke_user_refresh_tokens(self, user_id: UUID) -> int:
        """Revoke every live refresh token of the user; returns how many were revoked."""
        with self._transaction() as conn:
            revoked = _revoke_user_refresh_tokens(conn, user_id)
        self._changed("user", user_id)
        return revoked


def _revoke_user_refresh_tokens(conn: Connection, user_id: UUID) -> int:
    """Revoke every live refresh token of the user on the caller's transaction; how many."""
    return conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
        (user_id,),
    ).rowcount
