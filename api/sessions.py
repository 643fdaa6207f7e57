"""Signing in: the tokens of a new session, and the throttle on password checks."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from uuid import UUID

from fastapi import Request

from api.errors import ApiError
from api.schemas.users import TokenPublic
from api.security import (
    ACCESS_TOKEN_TTL,
    REFRESH_TOKEN_TTL,
    create_access_token,
    new_refresh_token,
)
from reelflow.settings import Settings
from storage.catalog import Catalog, User


def client_address(request: Request) -> str:
    # Behind a proxy this is the proxy unless uvicorn runs with --proxy-headers.
    return request.client.host if request.client else "unknown"


class LoginThrottle:
    """Password checks, limited per account and per client address over a sliding window.

    An attempt counts as a failure before the password is checked and is forgotten when it
    succeeds (see `Catalog.begin_login_attempt`), so parallel guesses cannot slip past the
    limit. A success also clears the account's failures, but not the address's: signing in to
    one's own account must not reset the guessing budget of an address.
    """

    def __init__(self, catalog: Catalog, settings: Settings, email: str, address: str) -> None:
        self._catalog = catalog
        self._window_s = settings.login_window_s
        self._max_failures = settings.login_max_failures
        self._account_key = f"account:{email.strip().lower()}"
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


def start_session(catalog: Catalog, settings: Settings, user: User) -> TokenPublic:
    """Sign the user in: the access token and first refresh token of a new session."""
    refresh_token, digest = new_refresh_token()
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
