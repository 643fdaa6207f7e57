"""The mail outbox: messages queued in the transaction of the change they tell of, and their
delivery by whichever sender claims them first.

A sender claims due messages under `FOR UPDATE SKIP LOCKED` and leases them for a while, so
several API processes share the work and a sender that dies mid-batch delays its messages by
the lease, never loses them. A message is addressed when it is claimed: mail to an account goes
to its address of the moment, and none goes to an account closed meanwhile. A link's secret is
deleted from the payload once the message is sent or given up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from reelflow.mail import MailKind
from storage.catalog.base import CatalogBase, Connection, _all
from storage.catalog.models import _Model

# Mail nobody asked for in their own name (registration, reset) that one recipient gets per
# hour at most: whoever types someone else's address cannot flood their inbox.
UNSOLICITED_PER_HOUR = 3
UNSOLICITED = (MailKind.CONFIRM_REGISTRATION, MailKind.ACCOUNT_EXISTS, MailKind.PASSWORD_RESET)


class OutboxMail(_Model):
    """A message claimed for sending, with the address it goes to now."""

    id: int
    kind: MailKind
    address: str
    payload: dict[str, Any]
    attempts: int


class MailOutbox(CatalogBase):
    """The `mail_outbox` table, as its senders use it."""

    def claim_mail(self, limit: int, lease: timedelta) -> list[OutboxMail]:
        """Up to `limit` due messages, oldest first, each leased to the caller for `lease`
        and counted as one attempt. Messages to an account closed or erased meanwhile are
        dropped on the way."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE mail_outbox AS m SET abandoned_at = now(), last_error = 'account closed',"
                " payload = m.payload - 'token' FROM users AS u"
                " WHERE m.user_id = u.id AND u.deleted_at IS NOT NULL"
                " AND m.sent_at IS NULL AND m.abandoned_at IS NULL"
            )
            return _all(
                conn,
                OutboxMail,
                sql.SQL(
                    "WITH due AS ("
                    " SELECT id FROM mail_outbox WHERE sent_at IS NULL AND abandoned_at IS NULL"
                    " AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT %s"
                    " FOR UPDATE SKIP LOCKED)"
                    " UPDATE mail_outbox AS m SET attempts = m.attempts + 1,"
                    " next_attempt_at = now() + %s FROM due WHERE m.id = due.id"
                    " RETURNING m.id, m.kind,"
                    " coalesce(m.to_address, (SELECT email FROM users WHERE id = m.user_id))"
                    " AS address, m.payload, m.attempts"
                ),
                (limit, lease),
            )

    def mail_sent(self, mail_id: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE mail_outbox SET sent_at = now(), last_error = NULL,"
                " payload = payload - 'token' WHERE id = %s",
                (mail_id,),
            )

    def mail_failed(self, mail_id: int, error: str, retry_in: timedelta | None) -> None:
        """Record a failed attempt: tried again after `retry_in`, or given up when None."""
        with self._transaction() as conn:
            if retry_in is None:
                conn.execute(
                    "UPDATE mail_outbox SET abandoned_at = now(), last_error = %s,"
                    " payload = payload - 'token' WHERE id = %s",
                    (error, mail_id),
                )
            else:
                conn.execute(
                    "UPDATE mail_outbox SET next_attempt_at = now() + %s, last_error = %s"
                    " WHERE id = %s",
                    (retry_in, error, mail_id),
                )

    def mail_backlog(self) -> tuple[int, datetime | None]:
        """How many messages wait to be sent, and when the oldest was queued."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT count(*), min(created_at) FROM mail_outbox"
                " WHERE sent_at IS NULL AND abandoned_at IS NULL"
            ).fetchone()
        return (0, None) if row is None else (int(row[0]), row[1])


def _enqueue_mail(
    conn: Connection,
    kind: MailKind,
    payload: Mapping[str, Any],
    *,
    to_address: str | None = None,
    user_id: UUID | None = None,
) -> bool:
    """Queue a message on the caller's transaction; False, queuing nothing, when it is mail
    nobody asked for in their own name and the recipient had their share this hour."""
    if kind in UNSOLICITED and _recent_unsolicited(conn, to_address, user_id, UNSOLICITED):
        return False
    conn.execute(
        "INSERT INTO mail_outbox (kind, to_address, user_id, payload) VALUES (%s, %s, %s, %s)",
        (kind, to_address, user_id, Jsonb(dict(payload))),
    )
    return True


def _recent_unsolicited(
    conn: Connection, to_address: str | None, user_id: UUID | None, kinds: Iterable[MailKind]
) -> bool:
    recipient = (
        sql.SQL("lower(to_address) = lower(%s)") if user_id is None else sql.SQL("user_id = %s")
    )
    query = sql.SQL(
        "SELECT count(*) >= %s FROM mail_outbox WHERE {} AND kind = ANY(%s)"
        " AND created_at > now() - interval '1 hour'"
    ).format(recipient)
    row = conn.execute(
        query,
        (UNSOLICITED_PER_HOUR, to_address if user_id is None else user_id, [str(k) for k in kinds]),
    ).fetchone()
    return bool(row and row[0])
