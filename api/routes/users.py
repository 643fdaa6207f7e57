"""Accounts: registration, your profile, your data export and the erasure of your account.

There is no route that takes another user's id: every route acts on the caller.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from cassandra import DriverException
from cassandra.cluster import NoHostAvailable
from fastapi import APIRouter, Request, status

from api import community as community_export
from api.deps import (
    CatalogDep,
    CurrentUser,
    HistoryDep,
    LimiterDep,
    MailerDep,
    SettingsDep,
    history_errors,
)
from api.errors import (
    INVALID_BODY,
    INVALID_LINK,
    THROTTLED,
    UNAUTHENTICATED,
    ApiError,
    error,
    invalid_link,
)
from api.limits import LIMITS_UNAVAILABLE, RATE_LIMITED
from api.schemas.users import (
    PROFILE_DATA_MAX_BYTES,
    CheckYourMail,
    CommentExport,
    HistoryEntryExport,
    MailedLink,
    ProfileExport,
    SubscriptionExport,
    UserCreate,
    UserExport,
    UserPublic,
    UserUpdateMe,
    VideoExport,
)
from api.security import hash_password, new_secret_token, secret_token_digest, verify_password
from api.sessions import LoginThrottle, client_address
from reelflow.settings import Settings
from storage.catalog import Catalog, EmailTaken, NotFound, Role, Video

log = logging.getLogger(__name__)

router = APIRouter(prefix="/users", tags=["users"])

EMAIL_TAKEN = error("Another account uses this email address (in any letter case)")
HISTORY_UNAVAILABLE = error("Viewing history (Cassandra) cannot be reached; nothing was changed")
# Pages of a creator's videos read for an export.
_VIDEO_PAGE = 500


def _email_taken() -> ApiError:
    return ApiError(409, "email_taken", "an account with this email address already exists")


@router.post(
    "/register",
    response_model=CheckYourMail,
    status_code=status.HTTP_202_ACCEPTED,
    responses={422: INVALID_BODY, 429: RATE_LIMITED, 503: LIMITS_UNAVAILABLE},
)
def register(
    body: UserCreate,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    mailer: MailerDep,
) -> CheckYourMail:
    """Ask for an account (a viewer, or a creator with `as_creator`): a link to create it is
    mailed to the address, which confirms it is the caller's.

    The answer is the same when the address has an account already (its owner is told so by
    mail instead): registration does not tell who has an account.
    """
    # Before the password is hashed: that is what an attacker would make us spend.
    limiter.check("register", address=client_address(request))
    profile: dict[str, Any] = {}
    if body.display_name is not None:
        profile["display_name"] = body.display_name
    token, digest = new_secret_token()
    # Hashed either way, so the time of the answer does not tell either.
    queued = catalog.start_registration(
        body.email,
        hash_password(body.password),
        role=Role.CREATOR if body.as_creator else Role.VIEWER,
        profile_data=profile,
        token=token,
        digest=digest,
        ttl=timedelta(seconds=settings.registration_ttl_s),
    )
    if queued:
        mailer.wake()
    return CheckYourMail(detail=f"a message was sent to {body.email}: open its link to go on")


@router.post(
    "/register/confirm",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        400: INVALID_LINK,
        409: error("The address got an account since the link was sent"),
        422: INVALID_BODY,
    },
)
def confirm_registration(body: MailedLink, catalog: CatalogDep) -> UserPublic:
    """Create the account whose registration link this is; then sign in."""
    try:
        user = catalog.confirm_registration(secret_token_digest(body.token))
    except NotFound as exc:
        raise invalid_link() from exc
    except EmailTaken as exc:
        raise _email_taken() from exc
    return UserPublic.model_validate(user)


@router.get("/me", response_model=UserPublic, responses={401: UNAUTHENTICATED})
def read_me(user: CurrentUser) -> UserPublic:
    """Your account."""
    return UserPublic.model_validate(user)


@router.patch(
    "/me",
    response_model=UserPublic,
    responses={
        401: UNAUTHENTICATED,
        403: error("`current_password` is wrong"),
        409: EMAIL_TAKEN,
        422: error(
            "The body breaks a field's rules, `current_password` is missing for an email or"
            f" password change, or the profile would exceed {PROFILE_DATA_MAX_BYTES} bytes"
        ),
        429: THROTTLED,
    },
)
def update_me(
    body: UserUpdateMe,
    user: CurrentUser,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
) -> UserPublic:
    """Change your email, display name, profile fields or password.

    A new email or password needs `current_password`; a new password signs out every session
    (refresh tokens are revoked).
    """
    profile = dict(user.profile_data)
    if "display_name" in body.model_fields_set:
        if body.display_name is None:
            profile.pop("display_name", None)
        else:
            profile["display_name"] = body.display_name
    for key, value in (body.profile_data or {}).items():
        if value is None:
            profile.pop(key, None)
        else:
            profile[key] = value
    encoded = json.dumps(profile, ensure_ascii=False, separators=(",", ":")).encode()
    if len(encoded) > PROFILE_DATA_MAX_BYTES:
        raise ApiError(
            422,
            "profile_too_large",
            f"profile_data would take {len(encoded)} bytes; at most {PROFILE_DATA_MAX_BYTES}",
        )

    new_email = body.email if body.email is not None and body.email != user.email else None
    if new_email is not None or body.new_password is not None:
        # The caller's account may come from the session cache, which holds no password hash.
        password_hash = catalog.get_user(user.id).password_hash
        _confirm_password(
            body.current_password, password_hash, str(user.id), request, catalog, settings
        )

    try:
        updated = catalog.update_user(
            user.id,
            email=new_email,
            password_hash=None if body.new_password is None else hash_password(body.new_password),
            profile_data=profile if profile != user.profile_data else None,
        )
    except EmailTaken as exc:
        raise _email_taken() from exc
    if body.new_password is not None:
        catalog.revoke_user_refresh_tokens(user.id)
    return UserPublic.model_validate(updated)


def _confirm_password(
    current_password: str | None,
    password_hash: str | None,
    account: str,
    request: Request,
    catalog: Catalog,
    settings: Settings,
) -> None:
    """Re-authenticate before a credential change, under the login throttle: a stolen access
    token must not become a way to guess the password or take the account over."""
    if current_password is None:
        raise ApiError(
            422,
            "current_password_required",
            "changing the email or password needs current_password",
        )
    throttle = LoginThrottle(catalog, settings, account, client_address(request))
    throttle.begin()
    if not verify_password(password_hash, current_password):
        raise ApiError(403, "wrong_password", "current_password is wrong")
    throttle.succeeded()


@router.get(
    "/me/export",
    response_model=UserExport,
    responses={401: UNAUTHENTICATED, 503: HISTORY_UNAVAILABLE},
)
def export_me(user: CurrentUser, catalog: CatalogDep, history: HistoryDep) -> UserExport:
    """Everything kept about you: profile, subscriptions, comments, videos, viewing history,
    ratings and playlists."""
    with history_errors():
        entries = history.history(user.id)
    return UserExport(
        exported_at=datetime.now(UTC),
        profile=ProfileExport.model_validate(user),
        subscriptions=[
            SubscriptionExport.model_validate(s) for s in catalog.subscriptions_of_user(user.id)
        ],
        comments=[CommentExport.model_validate(c) for c in catalog.list_comments_by_user(user.id)],
        videos=[VideoExport.model_validate(v) for v in _all_videos(catalog, user.id)],
        history=[HistoryEntryExport.model_validate(e) for e in entries],
        ratings=community_export.ratings(catalog, user.id),
        playlists=community_export.playlists(catalog, user.id),
    )


def _all_videos(catalog: Catalog, user_id: UUID) -> list[Video]:
    videos: list[Video] = []
    while True:
        page = catalog.list_videos_by_user(user_id, limit=_VIDEO_PAGE, offset=len(videos))
        videos.extend(page)
        if len(page) < _VIDEO_PAGE:
            return videos


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: UNAUTHENTICATED, 503: HISTORY_UNAVAILABLE},
)
def delete_me(user: CurrentUser, catalog: CatalogDep, history: HistoryDep) -> None:
    """Erase your account: profile, history, sessions, and your rows in the viewing datasets
    (rebuilt by the pipeline shortly after); comments stay without your name."""
    # Cassandra first: if it is down nothing has changed, and the account is still there to
    # retry with. Erasing history twice is harmless.
    with history_errors():
        days = history.erase_user(user.id)
    # The days the account's viewing was aggregated on are rebuilt by the pipeline's
    # erasure sensor, so the analytics datasets lose its rows too.
    catalog.erase_user(user.id, analytics_days=days)
    catalog.revoke_user_refresh_tokens(user.id)
    # A watch report that was authenticated before the erasure can still land between the two
    # stores; the account is now refused everywhere, so a second pass leaves nothing behind.
    try:
        catalog.request_analytics_erasure(history.erase_user(user.id))
    except (DriverException, NoHostAvailable):
        log.exception("second history erasure of user %s failed; run History.erase_user", user.id)
