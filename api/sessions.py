"""Signing in: the tokens of a new session, and the throttle on password checks."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from fastapi import Request

from api.cache import SharedCache
from api.errors import ApiError
from api.schemas.users import TokenPublic
from api.security import (
    ACCESS_TOKEN_TTL,
    REFRESH_TOKEN_TTL,
    create_access_token,
    new_secret_token,
)
from reelflow.settings import Settings
from storage.catalog import Catalog, User


def client_address(request: Request) -> str:
    # Behind a proxy this is the proxy unless uvicorn runs with --proxy-headers.
    return request.client.host if request.client else "unknown"


class LoginThrottle:
    """Password checks, limited per account and per client address over a sliding window.

    `account` is what `throttled_account` names: the account's id once the address resolves
    to one, so that every spelling the lookup accepts counts against the same budget.

    An attempt counts as a failure before the password is checked and is forgotten when it
    succeeds (see `Catalog.begin_login_attempt`), so parallel guesses cannot slip past the
    limit. A success also clears the account's failures, but not the address's: signing in to
    one's own account must not reset the guessing budget of an address.
    """

    def __init__(self, catalog: Catalog, settings: Settings, account: str, address: str) -> None:
        self._catalog = catalog
        self._window_s = settings.login_window_s
        self._max_failures = settings.login_max_failures
        self._account_key = f"account:{account}"
        self._keys = (self._account_key, f"address:{address}")
        self._attempt: list[int] = []

    def begin(self) -> None:
        """Count this attempt; 429 with `Retry-After` when account or address is at the limit."""
        attempt = self._catalog.begin_login_attempt(self._keys, self._window_s, self._max_failures)
        if attempt is None:
            wait_s = max(
                self._catalog.seconds_until_login_allowed(key, self._window_s, self._max_failures)
                for key in self._keys
            )
            raise ApiError(
                429,
                "too_many_attempts",
                "too many failed sign-in attempts; try again later",
                headers={"Retry-After": str(max(1, math.ceil(wait_s)))},
            )
        self._attempt = attempt

    def succeeded(self) -> None:
        """The password was right: this attempt was no failure, and the account starts afresh."""
        for failure_id in self._attempt:
            self._catalog.forget_login_failure(failure_id)
        self._attempt = []
        self._catalog.clear_login_failures(self._account_key)


def throttled_account(user: User | None, email: str) -> str:
    """The key a sign-in is limited under: the account found, else the address as typed."""
    return str(user.id) if user is not None else email.strip().lower()


def start_session(catalog: Catalog, settings: Settings, user: User) -> TokenPublic:
    """Sign the user in: the access token and first refresh token of a new session."""
    refresh_token, digest = new_secret_token()
    session_id = catalog.store_refresh_token(user.id, digest, datetime.now(UTC) + REFRESH_TOKEN_TTL)
    return session_tokens(settings, user, session_id, refresh_token)


def session_tokens(
    settings: Settings, user: User, session_id: UUID, refresh_token: str
) -> TokenPublic:
    return TokenPublic(
        access_token=create_access_token(
            user.id, user.role, settings.jwt_secret.get_secret_value(), session_id=session_id
        ),
        refresh_token=refresh_token,
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
    )


class SessionCache:
    """The session check of bearer tokens, shared by the API workers for a short while.

    An account's live sessions are one Redis hash (session id → the account without its password
    hash) that expires `session_cache_ttl_s` after it was filled. Every change of the account,
    its standing or its sessions (sign-out, password change, erasure, a subscription event)
    deletes the hash through `Catalog.on_changed`, so the next request checks PostgreSQL.
    """

    def __init__(self, cache: SharedCache, settings: Settings) -> None:
        self._cache = cache
        self._ttl_s = settings.session_cache_ttl_s

    def user(self, user_id: UUID, session_id: UUID, check: Callable[[], User]) -> User:
        """The account of a live session: cached (its `password_hash` None), else `check()`ed
        and cached unless the account changes meanwhile."""
        return self._cache.read_through(
            self._cache.key("sessions", user_id),
            str(session_id),
            check,
            lambda user: user.model_dump_json(exclude={"password_hash"}),
            lambda raw: User.model_validate(json.loads(raw) | {"password_hash": None}),
            self._ttl_s,
        )

    def forget(self, user_id: UUID) -> None:
        self._cache.drop(self._cache.key("sessions", user_id), marker_ttl_s=2 * self._ttl_s)
