"""The catalog's rows as frozen models, and the enums of their states.

Each model names its table's columns exactly: the queries select a model's fields by name.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from storage.catalog.errors import InvalidValue


class Role(StrEnum):
    VIEWER = "viewer"
    CREATOR = "creator"
    ADMIN = "admin"


class UserSubscriptionStatus(StrEnum):
    """A user's standing, summarised from all their subscriptions."""

    NONE = "none"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


class EncodingStatus(StrEnum):
    PENDING = "pending"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Visibility(StrEnum):
    PUBLIC = "public"
    UNLISTED = "unlisted"
    PRIVATE = "private"
    PREMIUM = "premium"


class StreamFormat(StrEnum):
    HLS = "hls"
    DASH = "dash"


class DrmScheme(StrEnum):
    CENC = "cenc"
    CBCS = "cbcs"
    AES_128 = "aes-128"


class BillingInterval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class UploadStatus(StrEnum):
    INITIATED = "initiated"
    RECEIVING = "receiving"
    COMPLETED = "completed"
    ABORTED = "aborted"
    EXPIRED = "expired"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class User(_Model):
    id: UUID
    email: str
    password_hash: str | None = Field(repr=False)
    subscription_status: UserSubscriptionStatus
    profile_data: dict[str, Any]
    role: Role
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    stripe_customer_id: str | None
    # The end of what the active subscriptions paid for (None: open-ended, or none active).
    subscribed_until: datetime | None = None


class Video(_Model):
    id: UUID
    title: str
    description: str
    tags: tuple[str, ...]
    uploaded_by_user_id: UUID
    duration_s: float | None
    encoding_status: EncodingStatus
    failure_reason: str | None
    thumbnail_url: str | None
    visibility: Visibility
    published_version: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    taken_down_at: datetime | None
    takedown_reason: str | None
    # Moves on every change of visibility or takedown (a trigger): playback URLs signed at an
    # older value no longer play.
    rights_version: int = 0


class ProcessingVideo(_Model):
    """A video `processing`, and since when: the completion of the upload it processes (its
    last change when it has no completed upload)."""

    id: UUID
    title: str
    since: datetime


class NewStreamAsset(_Model):
    """One rendition of one format, as the publishing step hands it to `publish_video`."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    bitrate: int = Field(gt=0, description="bits per second")
    codec: str = Field(min_length=1)
    format: StreamFormat
    cdn_url: str = Field(min_length=1)
    drm_key_id: UUID | None = None

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


class StreamAsset(_Model):
    id: UUID
    video_id: UUID
    version: str
    resolution: str
    width: int
    height: int
    bitrate: int
    codec: str
    format: StreamFormat
    cdn_url: str
    drm_key_id: UUID | None
    created_at: datetime


class DrmKey(_Model):
    """A stored key without its key material."""

    key_id: UUID
    video_id: UUID
    scheme: DrmScheme
    created_at: datetime


class DrmContentKey(_Model):
    """A key with its unwrapped content key, for the packager and the licence endpoint."""

    key_id: UUID
    video_id: UUID
    scheme: DrmScheme
    content_key: bytes = Field(repr=False)


class Plan(_Model):
    id: str
    name: str
    price_cents: int
    currency: str
    interval: BillingInterval
    stripe_price_id: str | None
    created_at: datetime
    updated_at: datetime


class Subscription(_Model):
    id: UUID
    user_id: UUID
    plan_id: str
    status: SubscriptionStatus
    start_date: datetime
    end_date: datetime | None
    auto_renew: bool
    payment_method_id: str | None
    provider_customer_id: str | None
    provider_subscription_id: str
    created_at: datetime
    updated_at: datetime
    # When the provider made the last event applied to it.
    last_event_at: datetime | None = None


class CommentCursor(_Model):
    """Where a page of comments ended; pass it as `before` to get the next (older) page."""

    created_at: datetime
    id: UUID

    def encode(self) -> str:
        """An opaque URL-safe token for API clients."""
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> CommentCursor:
        """The cursor behind a token from `encode`; raises InvalidValue for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            created_at, comment_id = raw.split("|")
            return cls(created_at=datetime.fromisoformat(created_at), id=UUID(comment_id))
        except ValueError as exc:
            raise InvalidValue(f"not a comment cursor: {token!r}") from exc


class Comment(_Model):
    id: UUID
    video_id: UUID
    user_id: UUID | None
    text: str
    created_at: datetime

    @property
    def cursor(self) -> CommentCursor:
        return CommentCursor(created_at=self.created_at, id=self.id)


class AnalyticsErasure(_Model):
    """Days whose viewing datasets still hold rows of an erased account."""

    id: int
    days: list[date]
    requested_at: datetime


class Upload(_Model):
    id: UUID
    video_id: UUID
    object_key: str
    size_bytes: int
    received_bytes: int
    status: UploadStatus
    content_type: str
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    s3_upload_id: str | None
