"""Login throttling: failed sign-ins counted per key (an account, a client address) over a
sliding window."""

from __future__ import annotations

from collections.abc import Sequence

from storage.catalog.base import CatalogBase, Connection
from storage.catalog.errors import InvalidValue

# Class id of the login throttle's advisory locks; the two-key form keeps them apart from
# single-key advisory locks.
_LOGIN_LOCK_CLASS = 0x52464C47


class LoginFailures(CatalogBase):
    """The `login_failures` table: counting, checking and forgetting failed sign-ins."""

    def record_login_failure(self, key: str) -> int:
        """Count one failed login against `key`; returns the failure's id."""
        with self._transaction() as conn:
            return _insert_login_failure(conn, key)

    def begin_login_attempt(
        self, keys: Sequence[str], window_s: int, max_failures: int
    ) -> list[int] | None:
        """Count a sign-in attempt as a failure of every key, in advance, unless one is at its
        limit; returns the failure ids (forget them if the attempt succeeds), or None having
        counted nothing.

        Counting before the password is checked, under a lock per key, is what keeps parallel
        guesses from all passing the check before any failure is recorded: at most
        `max_failures` attempts per key and window get a password checked. Failures older than
        the window, of any key, are deleted on the way, so the table stays small.
        """
        with self._transaction() as conn:
            # Sorted, so two attempts locking the same keys cannot deadlock.
            for key in sorted(set(keys)):
                conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOGIN_LOCK_CLASS, key)
                )
            conn.execute(
                "DELETE FROM login_failures WHERE failed_at <= now() - make_interval(secs => %s)",
                (window_s,),
            )
            over = conn.execute(
                "SELECT 1 FROM login_failures WHERE throttle_key = ANY(%s)"
                " AND failed_at > now() - make_interval(secs => %s)"
                " GROUP BY throttle_key HAVING count(*) >= %s LIMIT 1",
                (list(keys), window_s, max_failures),
            ).fetchone()
            if over is not None:
                return None
            return [_insert_login_failure(conn, key) for key in keys]

    def recent_login_failures(self, key: str, window_s: int) -> int:
        """How many failed logins `key` has had in the last `window_s` seconds."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT count(*) FROM login_failures"
                " WHERE throttle_key = %s AND failed_at > now() - make_interval(secs => %s)",
                (key, window_s),
            ).fetchone()
        return int(row[0]) if row else 0

    def seconds_until_login_allowed(self, key: str, window_s: int, max_failures: int) -> float:
        """Seconds until `key` has fewer than `max_failures` failures in its window (0 if now)."""
        if max_failures < 1:
            raise InvalidValue(f"max_failures must be at least 1, not {max_failures}")
        with self._transaction() as conn:
            # The window falls below the limit when the limit-th newest failure leaves it.
            row = conn.execute(
                "SELECT extract(epoch FROM failed_at + make_interval(secs => %s) - now())"
                " FROM login_failures"
                " WHERE throttle_key = %s AND failed_at > now() - make_interval(secs => %s)"
                " ORDER BY failed_at DESC, id DESC OFFSET %s LIMIT 1",
                (window_s, key, window_s, max_failures - 1),
            ).fetchone()
        return max(float(row[0]), 0.0) if row else 0.0

    def forget_login_failure(self, failure_id: int) -> None:
        """Remove one failure, e.g. an attempt counted in advance that turned out to succeed."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE id = %s", (failure_id,))

    def clear_login_failures(self, key: str) -> None:
        """Forget every failed login of `key` (after a successful sign-in)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE throttle_key = %s", (key,))


def _insert_login_failure(conn: Connection, key: str) -> int:
    row = conn.execute(
        "INSERT INTO login_failures (throttle_key) VALUES (%s) RETURNING id", (key,)
    ).fetchone()
    if row is None:
        raise RuntimeError("INSERT ... RETURNING gave no row")
    failure_id: int = row[0]
    return failure_id
