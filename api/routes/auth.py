"""Sign-in, token refresh and sign-out; the login throttle the account routes share."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from api.deps import CatalogDep, CurrentUser, SettingsDep
from api.errors import ApiError, ErrorPublic
from api.schemas.users import LoginRequest, RefreshTokenRequest, TokenPublic
from api.security import (
    ACCESS_TOKEN_TTL,
    REFRESH_TOKEN_TTL,
    create_access_token,
    new_refresh_token,
    refresh_token_digest,
    verify_password,
)
from reelflow.settings import Settings
from storage.catalog import Catalog, InvalidState, NotFound, User

router = APIRouter(prefix="/auth", tags=["auth"])


def error(description: str) -> dict[str, Any]:
    """An entry of a route's `responses`: an ErrorPublic body and what it means there."""
    return {"model": ErrorPublic, "description": description}


INVALID_BODY = error("The body is not valid JSON or breaks a field's rules")
UNAUTHENTICATED = error("No bearer access token, or it is invalid or expired")
THROTTLED = error("Too many failed attempts recently; retry after `Retry-After` seconds")


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
    return _tokens(settings, user, session_id, refresh_token)


def _tokens(settings: Settings, user: User, session_id: UUID, refresh_token: str) -> TokenPublic:
    return TokenPublic(
        access_token=create_access_token(
            user.id, user.role, settings.jwt_secret.get_secret_value(), session_id=session_id
        ),
        refresh_token=refresh_token,
        expires_in=int(ACCESS_TOKEN_TTL.total_seconds()),
    )


def _not_stored(response: Response) -> None:
    # Tokens must not be kept by browsers or proxies (RFC 6749, section 5.1).
    response.headers["Cache-Control"] = "no-store"


@router.post(
    "/login",
    response_model=TokenPublic,
    responses={
        401: error("The email or password is wrong (the same answer for an unknown email)"),
        422: INVALID_BODY,
        429: THROTTLED,
    },
)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> TokenPublic:
    """Sign in with email and password: an access token and a refresh token."""
    throttle = LoginThrottle(catalog, settings, body.email, client_address(request))
    throttle.begin()
    try:
        user: User | None = catalog.get_user_by_email(body.email)
    except NotFound:
        user = None
    live_hash = user.password_hash if user is not None and user.deleted_at is None else None
    # Checked even without an account (against a dummy hash) so timing does not tell.
    password_ok = verify_password(live_hash, body.password)
    if user is None or not password_ok:
        raise ApiError(401, "invalid_credentials", "the email or password is wrong")
    throttle.succeeded()
    _not_stored(response)
    return start_session(catalog, settings, user)


@router.post(
    "/refresh",
    response_model=TokenPublic,
    responses={
        401: error(
            "The refresh token is unknown, expired or revoked; presenting one that was already"
            " used revokes every refresh token of the account"
        ),
        422: INVALID_BODY,
    },
)
def refresh(
    body: RefreshTokenRequest, response: Response, catalog: CatalogDep, settings: SettingsDep
) -> TokenPublic:
    """Exchange a refresh token for a new access token and refresh token (it works once)."""
    refresh_token, digest = new_refresh_token()
    try:
        user_id, session_id = catalog.rotate_refresh_token(
            refresh_token_digest(body.refresh_token),
            digest,
            datetime.now(UTC) + REFRESH_TOKEN_TTL,
        )
        user = catalog.get_user(user_id)
    except (NotFound, InvalidState) as exc:
        raise ApiError(
            401, "invalid_refresh_token", "the refresh token is invalid, expired or revoked"
        ) from exc
    _not_stored(response)
    return _tokens(settings, user, session_id, refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: UNAUTHENTICATED, 422: INVALID_BODY},
)
def logout(body: RefreshTokenRequest, user: CurrentUser, catalog: CatalogDep) -> None:
    """Sign out: revoke the refresh token, which ends its session and its access tokens."""
    # Someone else's or an unknown token is left alone and not reported, so signing out twice
    # is harmless and the answer says nothing about tokens the caller does not own.
    catalog.revoke_refresh_token(refresh_token_digest(body.refresh_token), user_id=user.id)
