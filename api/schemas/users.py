"""Request and response bodies of accounts: registration, sign-in, profile, export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, field_validator

from api.schemas import StorableRequest
from api.schemas.community import PlaylistExport, RatingExport
from storage.catalog import (
    EncodingStatus,
    Role,
    SubscriptionStatus,
    UserSubscriptionStatus,
    Visibility,
)

# The catalog's own limit on addresses (users_email_check).
EMAIL_MAX_CHARS = 320
PASSWORD_MIN_CHARS = 10
# argon2 hashes any length, but a megabyte password would make every attempt costly.
PASSWORD_MAX_CHARS = 256
DISPLAY_NAME_MAX_CHARS = 100
# Serialised size of profile_data (UTF-8 JSON, no spaces) after a change is applied.
PROFILE_DATA_MAX_BYTES = 4096
REFRESH_TOKEN_MAX_CHARS = 256

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=EMAIL_MAX_CHARS, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]
Password = Annotated[str, Field(min_length=PASSWORD_MIN_CHARS, max_length=PASSWORD_MAX_CHARS)]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX_CHARS),
]


class _Request(StorableRequest):
    # An unknown field is a client mistake (a misspelt `new_password`, a `role`), not noise.
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Request):
    """A new account: always a viewer, or a creator when `as_creator` is set."""

    email: Email
    password: Password
    display_name: DisplayName | None = None
    as_creator: bool = False


class MailedLink(_Request):
    """The secret of a link sent by mail (the `token` of its `#token=…`)."""

    token: str = Field(min_length=1, max_length=REFRESH_TOKEN_MAX_CHARS)


class PasswordResetRequest(_Request):
    email: str = Field(min_length=1, max_length=EMAIL_MAX_CHARS)


class PasswordResetFinish(MailedLink):
    new_password: Password


class CheckYourMail(BaseModel):
    """A request that ends in a message to the address, whether or not it has an account."""

    detail: str


class UserUpdateMe(_Request):
    """Fields to change; leave a field out to keep it.

    Changing `email` or setting `new_password` needs `current_password`. In `profile_data`,
    keys are merged into the stored profile and a null value removes a key; `display_name`
    null removes the display name.
    """

    email: Email | None = None
    display_name: DisplayName | None = None
    profile_data: dict[str, JsonValue] | None = None
    new_password: Password | None = None
    current_password: str | None = Field(default=None, max_length=PASSWORD_MAX_CHARS)

    @field_validator("profile_data")
    @classmethod
    def _display_name_has_its_own_field(
        cls, value: dict[str, JsonValue] | None
    ) -> dict[str, JsonValue] | None:
        if value is not None and "display_name" in value:
            raise ValueError("set display_name with the display_name field")
        return value


class UserPublic(BaseModel):
    """An account as its owner sees it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    role: Role
    subscription_status: UserSubscriptionStatus
    profile_data: dict[str, Any]
    created_at: datetime


class LoginRequest(_Request):
    email: str = Field(min_length=1, max_length=EMAIL_MAX_CHARS)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_CHARS)


class RefreshTokenRequest(_Request):
    refresh_token: str = Field(min_length=1, max_length=REFRESH_TOKEN_MAX_CHARS)


class TokenPublic(BaseModel):
    """A short-lived bearer access token and the refresh token that renews it (once)."""

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")


class ProfileExport(UserPublic):
    updated_at: datetime
    stripe_customer_id: str | None


class SubscriptionExport(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    plan_id: str
    status: SubscriptionStatus
    start_date: datetime
    end_date: datetime | None
    auto_renew: bool
    created_at: datetime
    updated_at: datetime


class CommentExport(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    video_id: UUID
    text: str
    created_at: datetime


class VideoExport(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    title: str
    description: str
    tags: list[str]
    visibility: Visibility
    encoding_status: EncodingStatus
    duration_s: float | None
    created_at: datetime
    published_at: datetime | None


class HistoryEntryExport(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    video_id: UUID
    last_watched_at: datetime
    position_s: float
    duration_s: float
    finished: bool


class UserExport(BaseModel):
    """Every piece of personal data Reelflow keeps about the account."""

    exported_at: datetime
    profile: ProfileExport
    subscriptions: list[SubscriptionExport]
    comments: list[CommentExport]
    videos: list[VideoExport]
    history: list[HistoryEntryExport]
    ratings: list[RatingExport] = []
    playlists: list[PlaylistExport] = []
