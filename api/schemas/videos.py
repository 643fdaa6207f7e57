"""Request and response bodies of videos: uploads, metadata, playback, moderation, licences."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas import StorableRequest
from api.schemas.captions import CaptionTrackPublic
from storage.catalog import EncodingStatus, Visibility

# The catalog's own limits (videos_title_check, videos_description_check).
TITLE_MAX_CHARS = 300
DESCRIPTION_MAX_CHARS = 10_000
TAG_MAX_CHARS = 64
MAX_TAGS = 50
TAKEDOWN_REASON_MAX_CHARS = 1000
# S3 numbers multipart parts 1..10000.
MAX_PARTS = 10_000
# A licence request names the keys of one piece of content: a few at most.
MAX_LICENSE_KIDS = 16

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX_CHARS)
]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_CHARS)]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_MAX_CHARS)
]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]


class _Request(StorableRequest):
    # An unknown field is a client mistake (a misspelt `visibility`), not noise.
    model_config = ConfigDict(extra="forbid")


class VideoCreate(_Request):
    """A new video and the source file its creator is about to upload."""

    title: Title
    description: Description = ""
    tags: Tags = []
    visibility: Visibility = Visibility.PRIVATE
    size_bytes: int = Field(gt=0, description="exact size of the file that will be uploaded")
    content_type: str = Field(min_length=1, max_length=255, examples=["video/mp4"])


class VideoUpdate(_Request):
    """Fields to change; leave a field out (or null) to keep it."""

    title: Title | None = None
    description: Description | None = None
    tags: Tags | None = None
    visibility: Visibility | None = None


class UploadPartUrl(BaseModel):
    """A presigned URL for one part of an S3 multipart upload (PUT the bytes, keep the ETag)."""

    part_number: int
    url: str


class UploadTicket(BaseModel):
    """Where and how to send the source file.

    `local`: PUT chunks of at most `chunk_size` bytes to `upload_url` with
    `Content-Range: bytes a-b/total`; HEAD `upload_url` tells the offset to resume from.
    `s3`: PUT part `n` (bytes `(n-1)*chunk_size` onward, `Content-Type:
    application/octet-stream`) to its URL in `parts`, then complete with the parts' ETags.
    """

    video_id: UUID
    upload_id: UUID
    method: Literal["local", "s3"]
    upload_url: str | None = None
    expires_at: datetime
    chunk_size: int
    parts: list[UploadPartUrl] = []


class CompletedPart(_Request):
    part_number: int = Field(ge=1, le=MAX_PARTS)
    etag: str = Field(min_length=1, max_length=200)


class UploadComplete(_Request):
    """The ETags of every part of an S3 upload; nothing for a local upload."""

    parts: list[CompletedPart] = Field(default=[], max_length=MAX_PARTS)


class UploadProgress(BaseModel):
    upload_id: UUID
    received_bytes: int
    size_bytes: int
    complete: bool = Field(description="every byte has arrived; the upload can be completed")


class DrmPublic(BaseModel):
    """How to get keys for an encrypted stream."""

    scheme: str = Field(description="protection scheme of the CMAF stream: cbcs or cenc")
    key_ids: list[str] = Field(description="key IDs, base64url without padding")
    clearkey_license_url: str
    hls_aes_url: str | None = Field(
        default=None, description="signed AES-128 HLS master for players without EME"
    )
    hls_key_url: str | None = Field(
        default=None, description="the AES-128 key URI; send the bearer token to it"
    )


class PlaybackPublic(BaseModel):
    """Signed, expiring manifest URLs; every segment URL under them shares their grant."""

    hls_url: str
    dash_url: str
    expires_at: datetime
    drm: DrmPublic | None = None


class VideoPublic(BaseModel):
    """A video as the caller may see it.

    `failure_reason` is shown to the owner and admins only, the takedown fields to admins only;
    `playback` is there when the caller may play the video and a version is published.
    """

    id: UUID
    title: str
    description: str
    tags: list[str]
    visibility: Visibility
    owner_id: UUID
    encoding_status: EncodingStatus
    failure_reason: str | None = None
    duration_s: float | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    poster_url: str | None = None
    thumbnails_vtt_url: str | None = None
    taken_down_at: datetime | None = None
    takedown_reason: str | None = None
    playback: PlaybackPublic | None = None
    captions: list[CaptionTrackPublic] = []
    likes: int = 0
    dislikes: int = 0


class TakedownRequest(_Request):
    reason: str = Field(min_length=1, max_length=TAKEDOWN_REASON_MAX_CHARS, pattern=r"\S")


class ClearKeyLicenseRequest(BaseModel):
    """The W3C ClearKey licence request a CDM generates."""

    kids: list[str] = Field(min_length=1, max_length=MAX_LICENSE_KIDS)
    # Persistent licences would outlive a takedown or a lapsed subscription.
    type: Literal["temporary"] = "temporary"


class ClearKeyJwk(BaseModel):
    kty: Literal["oct"] = "oct"
    kid: str
    k: str


class ClearKeyLicense(BaseModel):
    """A W3C ClearKey licence: a JSON Web Key set."""

    keys: list[ClearKeyJwk]
    type: Literal["temporary"] = "temporary"
