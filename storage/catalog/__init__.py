"""The catalog in PostgreSQL: users, videos, streams, DRM keys, subscriptions, comments, uploads.

`Catalog` is the repository the API and the Dagster assets call; every public method is one
transaction and returns frozen models, never cursors or rows. Its methods live with their
aggregate, one module each, on the pool and transaction of `base`:

- `users`: accounts, deactivation and erasure; `sessions`: refresh tokens;
  `login_failures`: the sign-in throttle
- `videos`: one video's fields, state and moderation; `listings`: search, feed, trending
- `uploads`: a source's upload and the encoding states it drives; `publishing`: stream assets
- `drm_keys`, `billing` (plans, subscriptions, provider events), `comments`, `captions`,
  `analytics_erasures`
- `ratings`: likes and dislikes with their event log; `playlists`: viewers' lists, watch later
- `registrations`: accounts made and recovered by mail; `outbox`: the mail queued for sending

The rows are the frozen models of `models`, the deliberate failures the errors of `errors`.
"""

from __future__ import annotations

from storage.catalog.analytics_erasures import AnalyticsErasures
from storage.catalog.billing import Billing
from storage.catalog.captions import Caption, Captions
from storage.catalog.comments import MAX_COMMENT_CHARS, Comments
from storage.catalog.drm_keys import DrmKeys
from storage.catalog.errors import (
    CatalogError,
    Conflict,
    DrmKeyConflict,
    EmailTaken,
    InvalidState,
    InvalidValue,
    NotFound,
    SubscriptionExists,
    UploadQuotaExceeded,
)
from storage.catalog.listings import SEARCH_CONFIG, FeedCandidate, VideoListings
from storage.catalog.login_failures import LoginFailures
from storage.catalog.models import (
    AnalyticsErasure,
    BillingInterval,
    Comment,
    CommentCursor,
    DrmContentKey,
    DrmKey,
    DrmScheme,
    EncodingStatus,
    NewStreamAsset,
    Plan,
    ProcessingVideo,
    Role,
    StreamAsset,
    StreamFormat,
    Subscription,
    SubscriptionStatus,
    Upload,
    UploadStatus,
    User,
    UserSubscriptionStatus,
    Video,
    Visibility,
)
from storage.catalog.outbox import MailOutbox, OutboxMail
from storage.catalog.playlists import (
    MAX_PLAYLIST_ITEMS,
    Playlist,
    PlaylistEntry,
    PlaylistItem,
    PlaylistKind,
    Playlists,
    PlaylistVisibility,
)
from storage.catalog.publishing import Publishing
from storage.catalog.ratings import CommunityDay, Rating, RatingCounts, Ratings, VideoCommunityDay
from storage.catalog.registrations import Registrations
from storage.catalog.sessions import Sessions
from storage.catalog.uploads import (
    AWAITING_INGEST_STATUSES,
    DEFAULT_UPLOAD_TTL,
    OPEN_UPLOAD_STATUSES,
    UploadQuota,
    Uploads,
)
from storage.catalog.users import Users
from storage.catalog.videos import Videos

__all__ = [
    "AWAITING_INGEST_STATUSES",
    "DEFAULT_UPLOAD_TTL",
    "MAX_COMMENT_CHARS",
    "MAX_PLAYLIST_ITEMS",
    "OPEN_UPLOAD_STATUSES",
    "SEARCH_CONFIG",
    "AnalyticsErasure",
    "CommunityDay",
    "Playlist",
    "PlaylistEntry",
    "PlaylistItem",
    "PlaylistKind",
    "PlaylistVisibility",
    "Rating",
    "RatingCounts",
    "VideoCommunityDay",
    "BillingInterval",
    "Caption",
    "Catalog",
    "CatalogError",
    "Comment",
    "CommentCursor",
    "Conflict",
    "DrmContentKey",
    "DrmKey",
    "DrmKeyConflict",
    "DrmScheme",
    "EmailTaken",
    "EncodingStatus",
    "FeedCandidate",
    "InvalidState",
    "InvalidValue",
    "NewStreamAsset",
    "NotFound",
    "OutboxMail",
    "Plan",
    "ProcessingVideo",
    "Role",
    "StreamAsset",
    "StreamFormat",
    "Subscription",
    "SubscriptionExists",
    "SubscriptionStatus",
    "Upload",
    "UploadQuota",
    "UploadQuotaExceeded",
    "UploadStatus",
    "User",
    "UserSubscriptionStatus",
    "Video",
    "Visibility",
]


class Catalog(
    Users,
    Sessions,
    LoginFailures,
    Videos,
    VideoListings,
    Uploads,
    Publishing,
    DrmKeys,
    Billing,
    Comments,
    Captions,
    AnalyticsErasures,
    Ratings,
    Playlists,
    Registrations,
    MailOutbox,
):
    """Typed access to the catalog database over a connection pool."""
