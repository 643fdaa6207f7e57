"""Sign-in, token refresh and sign-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response, status

from api.deps import CatalogDep, CurrentUser, LimiterDep, MailerDep, SettingsDep
from api.errors import INVALID_BODY, INVALID_LINK, UNAUTHENTICATED, ApiError, error, invalid_link
from api.limits import LIMITS_UNAVAILABLE, RATE_LIMITED
from api.schemas.users import (
    CheckYourMail,
    LoginRequest,
    PasswordResetFinish,
    PasswordResetRequest,
    RefreshTokenRequest,
    TokenPublic,
)
from api.security import (
    REFRESH_TOKEN_TTL,
    hash_password,
    new_secret_token,
    secret_token_digest,
    verify_password,
)
from api.sessions import (
    LoginThrottle,
    client_address,
    session_tokens,
    start_session,
    throttled_account,
)
from storage.catalog import InvalidState, NotFound, User

router = APIRouter(prefix="/auth", tags=["auth"])


def _not_stored(response: Response) -> None:
    # Tokens must not be kept by browsers or proxies (RFC 6749, section 5.1).
    response.headers["Cache-Control"] = "no-store"


@router.post(
    "/login",
    response_model=TokenPublic,
    responses={
        401: error("The email or password is wrong (the same answer for an unknown email)"),
        422: INVALID_BODY,
        429: error(
            "Too many sign-ins from this address or for this account, or too many failed ones;"
            " retry after `Retry-After` seconds"
        ),
    },
)
def login(
    body: LoginRequest,
    request: Request,
    response: Response,
    catalog: CatalogDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> TokenPublic:
    """Sign in with email and password: an access token and a refresh token."""
    try:
        user: User | None = catalog.get_user_by_email(body.email)
    except NotFound:
        user = None
    # Limited on the account the lookup found, however its address was spelled.
    account = throttled_account(user, body.email)
    limiter.check("login", address=client_address(request), account=account)
    throttle = LoginThrottle(catalog, settings, account, client_address(request))
    throttle.begin()
    live_hash = user.password_hash if user is not None and user.deleted_at is None else None
    # Checked even without an account (against a dummy hash) so timing does not tell.
    password_ok = verify_password(live_hash, body.password)
    if user is None or not password_ok:
        raise ApiError(401, "invalid_credentials", "the email or password is wrong")
    throttle.succeeded()
    _not_stored(response)
    return start_session(catalog, settings, user)


@router.post(
    "/password-reset",
    response_model=CheckYourMail,
    status_code=status.HTTP_202_ACCEPTED,
    responses={422: INVALID_BODY, 429: RATE_LIMITED, 503: LIMITS_UNAVAILABLE},
)
def request_password_reset(
    body: PasswordResetRequest,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    mailer: MailerDep,
) -> CheckYourMail:
    """Mail a link that sets a new password to the address, if it has an account (the answer
    is the same when it has none)."""
    limiter.check("password_reset", address=client_address(request))
    token, digest = new_secret_token()
    if catalog.start_password_reset(
        body.email, token=token, digest=digest, ttl=timedelta(seconds=settings.password_reset_ttl_s)
    ):
        mailer.wake()
    return CheckYourMail(
        detail=f"if {body.email} has an account, a message was sent to it: open its link to go on"
    )


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={400: INVALID_LINK, 422: INVALID_BODY},
)
def finish_password_reset(body: PasswordResetFinish, catalog: CatalogDep) -> None:
    """Set a new password with the link of a reset: every session of the account ends."""
    try:
        catalog.finish_password_reset(
            secret_token_digest(body.token), hash_password(body.new_password)
        )
    except NotFound as exc:
        raise invalid_link() from exc


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
    refresh_token, digest = new_secret_token()
    try:
        user_id, session_id = catalog.rotate_refresh_token(
            secret_token_digest(body.refresh_token),
            digest,
            datetime.now(UTC) + REFRESH_TOKEN_TTL,
        )
        user = catalog.get_user(user_id)
    except (NotFound, InvalidState) as exc:
        raise ApiError(
            401, "invalid_refresh_token", "the refresh token is invalid, expired or revoked"
        ) from exc
    _not_stored(response)
    return session_tokens(settings, user, session_id, refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: UNAUTHENTICATED, 422: INVALID_BODY},
)
def logout(body: RefreshTokenRequest, user: CurrentUser, catalog: CatalogDep) -> None:
    """Sign out: revoke the refresh token, which ends its session and its access tokens."""
    # Someone else's or an unknown token is left alone and not reported, so signing out twice
    # is harmless and the answer says nothing about tokens the caller does not own.
    catalog.revoke_refresh_token(secret_token_digest(body.refresh_token), user_id=user.id)
