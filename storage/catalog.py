"""The catalog in PostgreSQL: users, videos, streams, DRM keys, subscriptions, comments, uploads.

`Catalog` is the repository the API and the Dagster assets call; every public method is one
transaction and returns frozen models, never cursors or rows.

Upload and encoding states work together like this:

- `create_upload` moves the video to `uploading`; a new upload supersedes (aborts) an open one.
- `complete_upload` only closes the upload: the video stays `uploading`, which with a completed
  latest upload means "awaiting ingest". `list_completed_uploads_pending_ingest` is that set.
- The ingest sensor starts a run and calls `set_encoding_status(video, PROCESSING)`; the
  pipeline ends with `publish_video` (`ready`) or `set_encoding_status(video, FAILED, reason)`.
- Aborting or expiring a video's latest upload returns the video to `pending`.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Self, TypeVar
from uuid import UUID

import psycopg
from psycopg import errors, sql
from psycopg.rows import TupleRow, class_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from storage import crypto
from storage.trending import TrendingVideo, top_trending

MAX_COMMENT_CHARS = 5000
DEFAULT_UPLOAD_TTL = timedelta(hours=24)
# The text search configuration of videos.search_vector; queries must use the same one.
SEARCH_CONFIG = "english"


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


OPEN_UPLOAD_STATUSES = (UploadStatus.INITIATED, UploadStatus.RECEIVING)
# Failed videos are left out: retrying a source that failed once needs a person, not a sensor.
AWAITING_INGEST_STATUSES = (EncodingStatus.PENDING, EncodingStatus.UPLOADING)


class CatalogError(Exception):
    """Base of the errors the catalog raises on purpose."""


class NotFound(CatalogError, LookupError):
    """The addressed row does not exist."""


class Conflict(CatalogError):
    """The change would collide with an existing row."""


class EmailTaken(Conflict):
    """Another account uses this email address (in any letter case)."""


class SubscriptionExists(Conflict):
    """A subscription with this provider id is already recorded."""


class DrmKeyConflict(Conflict):
    """The key id is already stored with another video, scheme or content key."""


class InvalidState(CatalogError):
    """The row is not in a state that allows this transition."""


class InvalidValue(CatalogError, ValueError):
    """An argument breaks a rule of the catalog (a CHECK constraint or its Python twin)."""


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


M = TypeVar("M", bound=_Model)
Query = sql.SQL | sql.Composed
Connection = psycopg.Connection[TupleRow]


class Catalog:
    """Typed access to the catalog database over a connection pool."""

    def __init__(
        self, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout_s: float = 30.0
    ) -> None:
        self._pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            kwargs={"application_name": "reelflow-catalog"},
            name="catalog",
            open=True,
        )

    def close(self) -> None:
        """Close every pooled connection; the catalog is unusable afterwards."""
        self._pool.close()

    def ping(self) -> None:
        """Raise unless the database answers a query within a few seconds."""
        with self._pool.connection(timeout=5) as conn:
            conn.execute("SELECT 1")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A pooled connection in a transaction, committed when the block ends without error."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except errors.CheckViolation as exc:
            raise InvalidValue(f"{exc.diag.message_primary} ({exc.diag.constraint_name})") from exc

    # Users

    def create_user(
        self,
        email: str,
        password_hash: str,
        *,
        role: Role = Role.VIEWER,
        profile_data: Mapping[str, Any] | None = None,
    ) -> User:
        """Add an account; raises EmailTaken when the address is used in any letter case."""
        email = email.strip()
        query = sql.SQL(
            "INSERT INTO users (email, password_hash, role, profile_data)"
            " VALUES (%s, %s, %s, %s) RETURNING {}"
        ).format(_columns(User))
        try:
            with self._transaction() as conn:
                return _one(
                    conn, User, query, (email, password_hash, role, Jsonb(dict(profile_data or {})))
                )
        except errors.UniqueViolation as exc:
            raise EmailTaken(f"email {email!r} is taken") from exc

    def get_user(self, user_id: UUID) -> User:
        """The account with this id, erased or not."""
        with self._transaction() as conn:
            return _user(conn, user_id)

    def get_user_by_email(self, email: str) -> User:
        """The account with this email address, compared case-insensitively.

        Soft-deleted accounts are found too: callers that log people in check `deleted_at`.
        """
        query = sql.SQL("SELECT {} FROM users WHERE lower(email) = lower(%s)").format(
            _columns(User)
        )
        with self._transaction() as conn:
            return _found(_fetch_one(conn, User, query, (email.strip(),)), f"user {email!r}")

    def update_user(
        self,
        user_id: UUID,
        *,
        email: str | None = None,
        password_hash: str | None = None,
        role: Role | None = None,
        profile_data: Mapping[str, Any] | None = None,
    ) -> User:
        """Change the given fields of a live account (None leaves a field as it is)."""
        changes: dict[str, object] = {}
        if email is not None:
            changes["email"] = email.strip()
        if password_hash is not None:
            changes["password_hash"] = password_hash
        if role is not None:
            changes["role"] = role
        if profile_data is not None:
            changes["profile_data"] = Jsonb(dict(profile_data))
        if not changes:
            user = self.get_user(user_id)
            if user.deleted_at is not None:
                raise NotFound(f"user {user_id} is deleted")
            return user
        query = sql.SQL(
            "UPDATE users SET {} WHERE id = %s AND deleted_at IS NULL RETURNING {}"
        ).format(_assignments(changes), _columns(User))
        try:
            with self._transaction() as conn:
                updated = _fetch_one(conn, User, query, (*changes.values(), user_id))
        except errors.UniqueViolation as exc:
            raise EmailTaken(f"email {email!r} is taken") from exc
        return _found(updated, f"live user {user_id}")

    def soft_delete_user(self, user_id: UUID) -> User:
        """Deactivate an account and keep its data; see `erase_user` to anonymise it."""
        query = sql.SQL(
            "UPDATE users SET deleted_at = coalesce(deleted_at, now()) WHERE id = %s RETURNING {}"
        ).format(_columns(User))
        with self._transaction() as conn:
            return _found(_fetch_one(conn, User, query, (user_id,)), f"user {user_id}")

    def erase_user(self, user_id: UUID, *, analytics_days: Iterable[date] = ()) -> User:
        """Anonymise an account: address replaced, password and profile cleared, comments orphaned.

        Videos and subscriptions stay: the first are the platform's content, the second are
        billing records the law makes us keep. Erasing twice is harmless. `analytics_days`, the
        days the account's viewing was aggregated on, are queued for rebuilding in the same
        transaction (see `request_analytics_erasure`).
        """
        query = sql.SQL(
            "UPDATE users SET email = 'erased-' || id || '@erased.invalid', password_hash = NULL,"
            " profile_data = '{{}}', deleted_at = coalesce(deleted_at, now())"
            " WHERE id = %s RETURNING {}"
        ).format(_columns(User))
        with self._transaction() as conn:
            user = _found(_fetch_one(conn, User, query, (user_id,)), f"user {user_id}")
            conn.execute("UPDATE comments SET user_id = NULL WHERE user_id = %s", (user_id,))
            _insert_analytics_erasure(conn, analytics_days)
            return user

    def request_analytics_erasure(self, days: Iterable[date]) -> None:
        """Queue days for rebuilding because rows of an erased account remain in them."""
        with self._transaction() as conn:
            _insert_analytics_erasure(conn, days)

    def list_analytics_erasures(self, *, after_id: int, limit: int = 500) -> list[AnalyticsErasure]:
        """Erasure requests newer than `after_id`, oldest first."""
        query = sql.SQL(
            "SELECT {} FROM analytics_erasures WHERE id > %s ORDER BY id LIMIT %s"
        ).format(_columns(AnalyticsErasure))
        with self._transaction() as conn:
            return _all(conn, AnalyticsErasure, query, (after_id, limit))

    # Videos

    def create_video(
        self,
        uploaded_by_user_id: UUID,
        title: str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        visibility: Visibility = Visibility.PRIVATE,
    ) -> Video:
        """Add a video in state `pending`; tags are stored trimmed, lower-case and unique."""
        query = sql.SQL(
            "INSERT INTO videos (uploaded_by_user_id, title, description, tags, visibility)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING {}"
        ).format(_columns(Video))
        params = (uploaded_by_user_id, title.strip(), description, _tags(tags), visibility)
        try:
            with self._transaction() as conn:
                return _one(conn, Video, query, params)
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"user {uploaded_by_user_id}") from exc

    def get_video(self, video_id: UUID) -> Video:
        """The video with this id, whatever its state or visibility."""
        query = sql.SQL("SELECT {} FROM videos WHERE id = %s").format(_columns(Video))
        with self._transaction() as conn:
            return _found(_fetch_one(conn, Video, query, (video_id,)), f"video {video_id}")

    def update_video(
        self,
        video_id: UUID,
        *,
        title: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        visibility: Visibility | None = None,
        thumbnail_url: str | None = None,
    ) -> Video:
        """Change the given editorial fields (None leaves a field as it is)."""
        changes: dict[str, object] = {}
        if title is not None:
            changes["title"] = title.strip()
        if description is not None:
            changes["description"] = description
        if tags is not None:
            changes["tags"] = _tags(tags)
        if visibility is not None:
            changes["visibility"] = visibility
        if thumbnail_url is not None:
            changes["thumbnail_url"] = thumbnail_url
        if not changes:
            return self.get_video(video_id)
        query = sql.SQL("UPDATE videos SET {} WHERE id = %s RETURNING {}").format(
            _assignments(changes), _columns(Video)
        )
        with self._transaction() as conn:
            video = _fetch_one(conn, Video, query, (*changes.values(), video_id))
        return _found(video, f"video {video_id}")

    def list_videos_by_user(
        self, user_id: UUID, *, limit: int = 50, offset: int = 0
    ) -> list[Video]:
        """A creator's videos in every state and visibility, newest first."""
        query = sql.SQL(
            "SELECT {} FROM videos WHERE uploaded_by_user_id = %s"
            " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s"
        ).format(_columns(Video))
        with self._transaction() as conn:
            return _all(conn, Video, query, (user_id, limit, offset))

    def set_encoding_status(
        self, video_id: UUID, status: EncodingStatus, failure_reason: str | None = None
    ) -> Video:
        """Record a pipeline state; FAILED needs a reason, and READY comes from `publish_video`.

        READY is accepted here only for a video that already has a published version (a
        re-processing run that was called off).
        """
        if (status == EncodingStatus.FAILED) != bool(failure_reason and failure_reason.strip()):
            raise InvalidValue("a failure reason is given exactly when the status is 'failed'")
        query = sql.SQL(
            "UPDATE videos SET encoding_status = %s, failure_reason = %s WHERE id = %s RETURNING {}"
        ).format(_columns(Video))
        with self._transaction() as conn:
            video = _fetch_one(conn, Video, query, (status, failure_reason, video_id))
        return _found(video, f"video {video_id}")

    def search_videos(
        self,
        query: str,
        *,
        tags: Iterable[str] | None = None,
        visibilities: Iterable[Visibility] = (Visibility.PUBLIC,),
        published_only: bool = True,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Video]:
        """Full-text search (web-search syntax, English stemming), best match first.

        Title matches weigh more than tag matches, which weigh more than description matches.
        A blank query lists the filtered videos, most recently published first; `tags` keeps
        videos that carry all of them.
        """
        conditions: list[sql.Composable] = [sql.SQL("v.visibility = ANY(%(visibilities)s)")]
        if published_only:
            conditions.append(sql.SQL("v.published_version IS NOT NULL"))
        visible: dict[str, object] = {"visibilities": [Visibility(v) for v in visibilities]}
        return self._search(query, conditions, visible, tags=tags, limit=limit, offset=offset)

    def _search(
        self,
        query: str,
        conditions: list[sql.Composable],
        params: dict[str, object],
        *,
        tags: Iterable[str] | None,
        limit: int,
        offset: int,
    ) -> list[Video]:
        """Videos meeting `conditions`, carrying all `tags` and matching `query`, best first."""
        conditions = list(conditions)
        params = params | {
            "config": SEARCH_CONFIG,
            "query": query,
            "tags": _tags(tags or ()),
            "limit": limit,
            "offset": offset,
        }
        if params["tags"]:
            conditions.append(sql.SQL("v.tags @> %(tags)s"))
        if query.strip():
            source = sql.SQL(
                "videos AS v CROSS JOIN websearch_to_tsquery(%(config)s::regconfig, %(query)s) AS q"
            )
            conditions.append(sql.SQL("v.search_vector @@ q"))
            order = sql.SQL("ts_rank(v.search_vector, q) DESC, v.published_at DESC NULLS LAST")
        else:
            source = sql.SQL("videos AS v")
            order = sql.SQL("v.published_at DESC NULLS LAST, v.created_at DESC")
        statement = sql.SQL(
            "SELECT {columns} FROM {source} WHERE {conditions}"
            " ORDER BY {order}, v.id LIMIT %(limit)s OFFSET %(offset)s"
        ).format(
            columns=_columns(Video, "v"),
            source=source,
            conditions=sql.SQL(" AND ").join(conditions),
            order=order,
        )
        with self._transaction() as conn:
            return _all(conn, Video, statement, params)

    def publish_video(
        self,
        video_id: UUID,
        version: str,
        stream_assets: Sequence[NewStreamAsset],
        thumbnail_url: str,
        duration_s: float,
    ) -> Video:
        """Make `version` the one viewers get, with exactly these stream assets, atomically.

        Publishing the same version again replaces its assets instead of adding to them; rows of
        earlier versions stay for players that are still on them. `published_at` keeps the
        first publication time.
        """
        if not stream_assets:
            raise InvalidValue("a published version needs at least one stream asset")
        renditions = [(a.format, a.resolution) for a in stream_assets]
        if len(set(renditions)) != len(renditions):
            raise InvalidValue(f"stream assets repeat a format and resolution: {renditions}")
        insert = (
            "INSERT INTO stream_assets (video_id, version, resolution, width, height, bitrate,"
            " codec, format, cdn_url, drm_key_id) VALUES (%(video_id)s, %(version)s,"
            " %(resolution)s, %(width)s, %(height)s, %(bitrate)s, %(codec)s, %(format)s,"
            " %(cdn_url)s, %(drm_key_id)s)"
        )
        publish = sql.SQL(
            "UPDATE videos SET published_version = %s, encoding_status = 'ready',"
            " failure_reason = NULL, published_at = coalesce(published_at, now()),"
            " thumbnail_url = %s, duration_s = %s WHERE id = %s RETURNING {}"
        ).format(_columns(Video))
        rows = [
            {**a.model_dump(), "resolution": a.resolution, "video_id": video_id, "version": version}
            for a in stream_assets
        ]
        with self._transaction() as conn:
            # The row lock serialises two publishing runs of the same video.
            _row_value(conn, "videos", video_id, for_update=True)
            conn.execute(
                "DELETE FROM stream_assets WHERE video_id = %s AND version = %s",
                (video_id, version),
            )
            try:
                with conn.cursor() as cur:
                    cur.executemany(insert, rows)
            except errors.ForeignKeyViolation as exc:
                raise InvalidValue(
                    f"a stream asset names a DRM key that is not a key of video {video_id}"
                ) from exc
            return _one(conn, Video, publish, (version, thumbnail_url, duration_s, video_id))

    def list_stream_assets(self, video_id: UUID) -> list[StreamAsset]:
        """The stream assets of the published version (empty while unpublished)."""
        query = sql.SQL(
            "SELECT {} FROM videos AS v JOIN stream_assets AS a"
            " ON a.video_id = v.id AND a.version = v.published_version"
            " WHERE v.id = %s ORDER BY a.format, a.height DESC, a.bitrate DESC"
        ).format(_columns(StreamAsset, "a"))
        with self._transaction() as conn:
            assets = _all(conn, StreamAsset, query, (video_id,))
            if not assets:
                _row_value(conn, "videos", video_id)
            return assets

    # DRM keys

    def put_drm_key(
        self,
        video_id: UUID,
        key_id: UUID,
        content_key: bytes,
        scheme: DrmScheme,
        master_key: str,
    ) -> DrmKey:
        """Store a content key wrapped under the master key; storing the same key again is a no-op.

        Raises DrmKeyConflict when the key id is stored with another video, scheme or key.
        """
        wrapped = crypto.wrap_content_key(content_key, video_id=video_id, master_key=master_key)
        insert = sql.SQL(
            "INSERT INTO drm_keys (key_id, video_id, wrapped_content_key, scheme)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (key_id) DO NOTHING RETURNING {}"
        ).format(_columns(DrmKey))
        try:
            with self._transaction() as conn:
                stored = _fetch_one(conn, DrmKey, insert, (key_id, video_id, wrapped, scheme))
                if stored is not None:
                    return stored
                existing = conn.execute(
                    "SELECT video_id, scheme, wrapped_content_key, created_at"
                    " FROM drm_keys WHERE key_id = %s",
                    (key_id,),
                ).fetchone()
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"video {video_id}") from exc
        if existing is None:
            raise DrmKeyConflict(f"DRM key {key_id} was deleted while it was being stored")
        other_video, other_scheme, other_wrapped, created_at = existing
        same = (
            other_video == video_id
            and other_scheme == scheme
            and hmac.compare_digest(
                crypto.unwrap_content_key(other_wrapped, video_id=video_id, master_key=master_key),
                content_key,
            )
        )
        if not same:
            raise DrmKeyConflict(f"DRM key {key_id} is already stored with other contents")
        return DrmKey(key_id=key_id, video_id=video_id, scheme=scheme, created_at=created_at)

    def get_drm_key(self, key_id: UUID, master_key: str) -> DrmContentKey:
        """A key with its content key unwrapped; crypto.KeyUnwrapError for a wrong master key."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT video_id, scheme, wrapped_content_key FROM drm_keys WHERE key_id = %s",
                (key_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"DRM key {key_id}")
        video_id, scheme, wrapped = row
        content_key = crypto.unwrap_content_key(wrapped, video_id=video_id, master_key=master_key)
        return DrmContentKey(
            key_id=key_id, video_id=video_id, scheme=scheme, content_key=content_key
        )

    def keys_for_video(self, video_id: UUID) -> list[DrmKey]:
        """The keys stored for a video, oldest first, without key material."""
        query = sql.SQL(
            "SELECT {} FROM drm_keys WHERE video_id = %s ORDER BY created_at, key_id"
        ).format(_columns(DrmKey))
        with self._transaction() as conn:
            return _all(conn, DrmKey, query, (video_id,))

    # Plans and subscriptions

    def upsert_plan(
        self,
        plan_id: str,
        *,
        name: str,
        price_cents: int,
        currency: str,
        interval: BillingInterval,
        stripe_price_id: str | None = None,
    ) -> Plan:
        """Create or replace a plan by its id (currency as ISO 4217, stored lower-case)."""
        query = sql.SQL(
            "INSERT INTO plans (id, name, price_cents, currency, interval, stripe_price_id)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
            " price_cents = excluded.price_cents, currency = excluded.currency,"
            " interval = excluded.interval, stripe_price_id = excluded.stripe_price_id"
            " RETURNING {}"
        ).format(_columns(Plan))
        params = (plan_id, name, price_cents, currency.lower(), interval, stripe_price_id)
        try:
            with self._transaction() as conn:
                return _one(conn, Plan, query, params)
        except errors.UniqueViolation as exc:
            raise Conflict(f"Stripe price {stripe_price_id!r} belongs to another plan") from exc

    def get_plan(self, plan_id: str) -> Plan:
        """The plan with this id."""
        query = sql.SQL("SELECT {} FROM plans WHERE id = %s").format(_columns(Plan))
        with self._transaction() as conn:
            return _found(_fetch_one(conn, Plan, query, (plan_id,)), f"plan {plan_id!r}")

    def list_plans(self) -> list[Plan]:
        """Every plan, cheapest first."""
        query = sql.SQL("SELECT {} FROM plans ORDER BY price_cents, id").format(_columns(Plan))
        with self._transaction() as conn:
            return _all(conn, Plan, query, ())

    def create_subscription(
        self,
        user_id: UUID,
        plan_id: str,
        provider_subscription_id: str,
        *,
        status: SubscriptionStatus = SubscriptionStatus.INCOMPLETE,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        auto_renew: bool = True,
        payment_method_id: str | None = None,
        provider_customer_id: str | None = None,
    ) -> Subscription:
        """Record a payment provider's subscription and update the user's standing with it."""
        query = sql.SQL(
            "INSERT INTO subscriptions (user_id, plan_id, provider_subscription_id, status,"
            " start_date, end_date, auto_renew, payment_method_id, provider_customer_id)"
            " VALUES (%s, %s, %s, %s, coalesce(%s, now()), %s, %s, %s, %s) RETURNING {}"
        ).format(_columns(Subscription))
        params = (
            user_id,
            plan_id,
            provider_subscription_id,
            status,
            start_date,
            end_date,
            auto_renew,
            payment_method_id,
            provider_customer_id,
        )
        try:
            with self._transaction() as conn:
                _row_value(conn, "users", user_id, for_update=True)
                subscription = _one(conn, Subscription, query, params)
                _refresh_user_subscription_status(conn, user_id)
                return subscription
        except errors.UniqueViolation as exc:
            raise SubscriptionExists(
                f"subscription {provider_subscription_id!r} is already recorded"
            ) from exc
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"plan {plan_id!r}") from exc

    def get_subscription(self, provider_subscription_id: str) -> Subscription:
        """The subscription with this payment provider id."""
        query = sql.SQL("SELECT {} FROM subscriptions WHERE provider_subscription_id = %s").format(
            _columns(Subscription)
        )
        with self._transaction() as conn:
            subscription = _fetch_one(conn, Subscription, query, (provider_subscription_id,))
        return _found(subscription, f"subscription {provider_subscription_id!r}")

    def get_active_subscription(self, user_id: UUID) -> Subscription | None:
        """The user's most recently started subscription in state `active`, if any."""
        query = sql.SQL(
            "SELECT {} FROM subscriptions WHERE user_id = %s AND status = 'active'"
            " ORDER BY start_date DESC, id LIMIT 1"
        ).format(_columns(Subscription))
        with self._transaction() as conn:
            return _fetch_one(conn, Subscription, query, (user_id,))

    def update_subscription_status(
        self,
        provider_subscription_id: str,
        status: SubscriptionStatus,
        *,
        end_date: datetime | None = None,
        auto_renew: bool | None = None,
    ) -> Subscription:
        """Apply a provider's status change and bring the user's standing in step."""
        query = sql.SQL(
            "UPDATE subscriptions SET status = %s, end_date = coalesce(%s, end_date),"
            " auto_renew = coalesce(%s, auto_renew)"
            " WHERE provider_subscription_id = %s RETURNING {}"
        ).format(_columns(Subscription))
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT user_id FROM subscriptions WHERE provider_subscription_id = %s",
                (provider_subscription_id,),
            ).fetchone()
            if row is None:
                raise NotFound(f"subscription {provider_subscription_id!r}")
            user_id = row[0]
            # Lock the user before reading its subscriptions again, so that two webhooks for
            # the same user cannot each compute the standing without the other's change.
            _row_value(conn, "users", user_id, for_update=True)
            params = (status, end_date, auto_renew, provider_subscription_id)
            subscription = _one(conn, Subscription, query, params)
            _refresh_user_subscription_status(conn, user_id)
            return subscription

    # Comments

    def add_comment(self, video_id: UUID, user_id: UUID, text: str) -> Comment:
        """Add a comment by a live account; text must be non-blank and at most 5000 characters."""
        if not text.strip():
            raise InvalidValue("a comment needs some text")
        if len(text) > MAX_COMMENT_CHARS:
            raise InvalidValue(f"a comment has at most {MAX_COMMENT_CHARS} characters")
        query = sql.SQL(
            "INSERT INTO comments (video_id, user_id, text) VALUES (%s, %s, %s) RETURNING {}"
        ).format(_columns(Comment))
        try:
            with self._transaction() as conn:
                author = conn.execute(
                    "SELECT deleted_at FROM users WHERE id = %s FOR SHARE", (user_id,)
                ).fetchone()
                if author is None:
                    raise NotFound(f"user {user_id}")
                if author[0] is not None:
                    raise InvalidState(f"user {user_id} is deleted")
                return _one(conn, Comment, query, (video_id, user_id, text))
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"video {video_id}") from exc

    def list_comments(
        self, video_id: UUID, *, limit: int = 50, before: CommentCursor | None = None
    ) -> list[Comment]:
        """A page of a video's comments, newest first, older than `before` when given."""
        if before is None:
            query = sql.SQL(
                "SELECT {} FROM comments WHERE video_id = %s"
                " ORDER BY created_at DESC, id DESC LIMIT %s"
            ).format(_columns(Comment))
            params: tuple[object, ...] = (video_id, limit)
        else:
            query = sql.SQL(
                "SELECT {} FROM comments WHERE video_id = %s AND (created_at, id) < (%s, %s)"
                " ORDER BY created_at DESC, id DESC LIMIT %s"
            ).format(_columns(Comment))
            params = (video_id, before.created_at, before.id, limit)
        with self._transaction() as conn:
            return _all(conn, Comment, query, params)

    def delete_comment(self, comment_id: UUID) -> None:
        """Remove a comment for good."""
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM comments WHERE id = %s", (comment_id,)).rowcount
        if not deleted:
            raise NotFound(f"comment {comment_id}")

    # Uploads

    def create_upload(
        self,
        video_id: UUID,
        *,
        object_key: str,
        size_bytes: int,
        content_type: str,
        ttl: timedelta = DEFAULT_UPLOAD_TTL,
        s3_upload_id: str | None = None,
    ) -> Upload:
        """Open an upload of a video's source and move the video to `uploading`.

        Allowed while the video is pending, uploading or failed; an open upload of the same
        video is aborted, since the newest upload is the one that gets ingested.
        """
        allowed = (EncodingStatus.PENDING, EncodingStatus.UPLOADING, EncodingStatus.FAILED)
        insert = sql.SQL(
            "INSERT INTO uploads (video_id, object_key, size_bytes, content_type, expires_at,"
            " s3_upload_id) VALUES (%s, %s, %s, %s, now() + %s, %s) RETURNING {}"
        ).format(_columns(Upload))
        try:
            with self._transaction() as conn:
                status = _row_value(
                    conn, "videos", video_id, column="encoding_status", for_update=True
                )
                if status not in allowed:
                    raise InvalidState(f"video {video_id} is {status}; it takes no new upload")
                conn.execute(
                    "UPDATE uploads SET status = 'aborted'"
                    " WHERE video_id = %s AND status = ANY(%s)",
                    (video_id, list(OPEN_UPLOAD_STATUSES)),
                )
                conn.execute(
                    "UPDATE videos SET encoding_status = 'uploading', failure_reason = NULL"
                    " WHERE id = %s",
                    (video_id,),
                )
                params = (video_id, object_key, size_bytes, content_type, ttl, s3_upload_id)
                return _one(conn, Upload, insert, params)
        except errors.UniqueViolation as exc:
            raise Conflict(f"object key {object_key!r} already has an upload") from exc

    def get_upload(self, upload_id: UUID) -> Upload:
        """The upload with this id."""
        query = sql.SQL("SELECT {} FROM uploads WHERE id = %s").format(_columns(Upload))
        with self._transaction() as conn:
            return _found(_fetch_one(conn, Upload, query, (upload_id,)), f"upload {upload_id}")

    def record_received(self, upload_id: UUID, received_bytes: int) -> Upload:
        """Note how many bytes of an open upload have arrived in total.

        The count never moves backwards, so a retried or reordered report is harmless.
        """
        query = sql.SQL(
            "UPDATE uploads SET received_bytes = greatest(received_bytes, %s), status = 'receiving'"
            " WHERE id = %s AND status = ANY(%s) AND expires_at > now() RETURNING {}"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            params = (received_bytes, upload_id, list(OPEN_UPLOAD_STATUSES))
            upload = _fetch_one(conn, Upload, query, params)
        return upload or self._refuse_upload_change(upload_id)

    def complete_upload(self, upload_id: UUID) -> Upload:
        """Close an open upload whose bytes have all arrived; the video now awaits ingest.

        The video stays `uploading` until the ingest sensor moves it to `processing`.
        """
        query = sql.SQL(
            "UPDATE uploads SET status = 'completed', completed_at = now()"
            " WHERE id = %s AND status = ANY(%s) AND expires_at > now()"
            " AND received_bytes = size_bytes RETURNING {}"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            upload = _fetch_one(conn, Upload, query, (upload_id, list(OPEN_UPLOAD_STATUSES)))
        return upload or self._refuse_upload_change(upload_id)

    def abort_upload(self, upload_id: UUID) -> Upload:
        """Give up an open upload; a video whose latest upload this was returns to `pending`."""
        query = sql.SQL(
            "UPDATE uploads SET status = 'aborted' WHERE id = %s AND status = ANY(%s) RETURNING {}"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            upload = _fetch_one(conn, Upload, query, (upload_id, list(OPEN_UPLOAD_STATUSES)))
            if upload is not None:
                _settle_videos_after_upload_ended(conn, [upload.video_id])
        return upload or self._refuse_upload_change(upload_id)

    def expire_uploads(self) -> list[Upload]:
        """Mark open uploads past their expiry as expired, and return them for clean-up."""
        query = sql.SQL(
            "UPDATE uploads SET status = 'expired'"
            " WHERE status = ANY(%s) AND expires_at <= now() RETURNING {}"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            expired = _all(conn, Upload, query, (list(OPEN_UPLOAD_STATUSES),))
            _settle_videos_after_upload_ended(conn, [u.video_id for u in expired])
            return expired

    def list_open_uploads(self) -> list[Upload]:
        """Uploads still receiving bytes (expired or not), oldest first."""
        query = sql.SQL(
            "SELECT {} FROM uploads WHERE status = ANY(%s) ORDER BY created_at, id"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            return _all(conn, Upload, query, (list(OPEN_UPLOAD_STATUSES),))

    def known_s3_upload_ids(self, s3_upload_ids: Iterable[str]) -> set[str]:
        """Those of the S3 multipart upload ids that some upload row names, in any state."""
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT s3_upload_id FROM uploads WHERE s3_upload_id = ANY(%s)",
                (list(s3_upload_ids),),
            ).fetchall()
        return {row[0] for row in rows}

    def list_completed_uploads_pending_ingest(self) -> list[Upload]:
        """For each video awaiting ingest, its latest upload if completed; oldest first."""
        query = sql.SQL(
            "SELECT {} FROM ("
            " SELECT DISTINCT ON (u.video_id) u.* FROM uploads AS u"
            " JOIN videos AS v ON v.id = u.video_id AND v.encoding_status = ANY(%s)"
            " ORDER BY u.video_id, u.created_at DESC, u.id DESC"
            ") AS latest WHERE latest.status = 'completed' ORDER BY latest.completed_at, latest.id"
        ).format(_columns(Upload, "latest"))
        with self._transaction() as conn:
            return _all(conn, Upload, query, (list(AWAITING_INGEST_STATUSES),))

    def latest_completed_upload(self, video_id: UUID) -> Upload:
        """The newest completed upload of a video: the source that ingest and re-processing read."""
        query = sql.SQL(
            "SELECT {} FROM uploads WHERE video_id = %s AND status = 'completed'"
            " ORDER BY completed_at DESC, id DESC LIMIT 1"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            upload = _fetch_one(conn, Upload, query, (video_id,))
        return _found(upload, f"completed upload of video {video_id}")

    def _refuse_upload_change(self, upload_id: UUID) -> Upload:
        """Raise the reason an upload transition matched no row."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT status, expires_at <= now(), received_bytes, size_bytes"
                " FROM uploads WHERE id = %s",
                (upload_id,),
            ).fetchone()
        if row is None:
            raise NotFound(f"upload {upload_id}")
        status, expired, received_bytes, size_bytes = row
        if status not in OPEN_UPLOAD_STATUSES:
            raise InvalidState(f"upload {upload_id} is {status}")
        if expired:
            raise InvalidState(f"upload {upload_id} has expired")
        raise InvalidState(f"upload {upload_id} has {received_bytes} of {size_bytes} bytes")

    # Accounts: refresh tokens and login throttling

    # Class id of the login throttle's advisory locks; the two-key form keeps them apart
    # from single-key advisory locks.
    _LOGIN_LOCK_CLASS = 0x52464C47

    def store_refresh_token(self, user_id: UUID, digest: bytes, expires_at: datetime) -> UUID:
        """Keep the digest of the first refresh token of a new session; returns the session id."""
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "INSERT INTO refresh_tokens (user_id, token_hash, expires_at)"
                    " VALUES (%s, %s, %s) RETURNING session_id",
                    (user_id, digest, expires_at),
                ).fetchone()
        except errors.ForeignKeyViolation as exc:
            raise NotFound(f"user {user_id}") from exc
        if row is None:
            raise RuntimeError("INSERT ... RETURNING gave no row")
        session_id: UUID = row[0]
        return session_id

    def get_session_user(self, user_id: UUID, session_id: UUID) -> User:
        """The account, while the session is live: one of its refresh tokens is neither revoked
        nor expired. NotFound for an unknown account; InvalidState once the session ended."""
        with self._transaction() as conn:
            user = _user(conn, user_id)
            live = conn.execute(
                "SELECT 1 FROM refresh_tokens WHERE session_id = %s AND user_id = %s"
                " AND revoked_at IS NULL AND expires_at > now() LIMIT 1",
                (session_id, user_id),
            ).fetchone()
        if live is None:
            raise InvalidState(f"session {session_id} of user {user_id} has ended")
        return user

    def rotate_refresh_token(
        self, old_digest: bytes, new_digest: bytes, expires_at: datetime
    ) -> tuple[UUID, UUID]:
        """Exchange a live refresh token for a new one of the same session; returns the user id
        and the session id.

        The old token is revoked and linked to its replacement in the same transaction, so it
        works exactly once. Presenting a token that was already exchanged means it was copied
        (a thief or the rightful client used it after the other), and nobody can tell which
        holder is legitimate: every token of the user is revoked and InvalidState raised. A
        token revoked otherwise (signed out, password changed) is only refused, so a device
        still holding one cannot end the sessions started since.
        NotFound for an unknown token; InvalidState when it expired or the account is deleted.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT t.id, t.user_id, t.session_id, t.revoked_at IS NOT NULL,"
                " t.replaced_by IS NOT NULL, t.expires_at <= now(), u.deleted_at IS NOT NULL"
                " FROM refresh_tokens AS t JOIN users AS u ON u.id = t.user_id"
                " WHERE t.token_hash = %s FOR UPDATE OF t",
                (old_digest,),
            ).fetchone()
            if row is None:
                raise NotFound("refresh token")
            token_id, user_id, session_id, revoked, exchanged, expired, user_deleted = row
            if revoked and not exchanged:
                raise InvalidState("the refresh token was revoked")
            if not revoked:
                if expired:
                    raise InvalidState("the refresh token has expired")
                if user_deleted:
                    raise InvalidState(f"user {user_id} is deleted")
                new = conn.execute(
                    "INSERT INTO refresh_tokens (user_id, session_id, token_hash, expires_at)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (user_id, session_id, new_digest, expires_at),
                ).fetchone()
                if new is None:
                    raise RuntimeError("INSERT ... RETURNING gave no row")
                conn.execute(
                    "UPDATE refresh_tokens SET revoked_at = now(), replaced_by = %s WHERE id = %s",
                    (new[0], token_id),
                )
                return user_id, session_id
            conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now()"
                " WHERE user_id = %s AND revoked_at IS NULL",
                (user_id,),
            )
        # Raised after the block so that the revocation above is committed, not rolled back.
        raise InvalidState(
            f"a revoked refresh token of user {user_id} was presented; all its tokens are revoked"
        )

    def revoke_refresh_token(self, digest: bytes, *, user_id: UUID | None = None) -> bool:
        """Revoke one refresh token (only if it is `user_id`'s, when given); False if none was."""
        query = "UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = %s"
        params: tuple[object, ...] = (digest,)
        if user_id is not None:
            query += " AND user_id = %s"
            params = (digest, user_id)
        with self._transaction() as conn:
            revoked = conn.execute(query + " AND revoked_at IS NULL", params).rowcount
        return revoked > 0

    def revoke_user_refresh_tokens(self, user_id: UUID) -> int:
        """Revoke every live refresh token of the user; returns how many were revoked."""
        with self._transaction() as conn:
            return conn.execute(
                "UPDATE refresh_tokens SET revoked_at = now()"
                " WHERE user_id = %s AND revoked_at IS NULL",
                (user_id,),
            ).rowcount

    def record_login_failure(self, key: str) -> int:
        """Count one failed login against `key`; returns the failure's id."""
        with self._transaction() as conn:
            return self._insert_login_failure(conn, key)

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
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (self._LOGIN_LOCK_CLASS, key)
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
            return [self._insert_login_failure(conn, key) for key in keys]

    @staticmethod
    def _insert_login_failure(conn: Connection, key: str) -> int:
        row = conn.execute(
            "INSERT INTO login_failures (throttle_key) VALUES (%s) RETURNING id", (key,)
        ).fetchone()
        if row is None:
            raise RuntimeError("INSERT ... RETURNING gave no row")
        failure_id: int = row[0]
        return failure_id

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

    def list_comments_by_user(self, user_id: UUID) -> list[Comment]:
        """Every comment the user wrote, newest first (none after an erasure)."""
        query = sql.SQL(
            "SELECT {} FROM comments WHERE user_id = %s ORDER BY created_at DESC, id DESC"
        ).format(_columns(Comment))
        with self._transaction() as conn:
            return _all(conn, Comment, query, (user_id,))

    def subscriptions_of_user(self, user_id: UUID) -> list[Subscription]:
        """Every subscription of the user, in any state, most recently started first."""
        query = sql.SQL(
            "SELECT {} FROM subscriptions WHERE user_id = %s ORDER BY start_date DESC, id"
        ).format(_columns(Subscription))
        with self._transaction() as conn:
            return _all(conn, Subscription, query, (user_id,))

    # Moderation and playback

    def take_down_video(self, video_id: UUID, reason: str) -> Video:
        """Hide a video from everyone but admins and stop its playback and licences.

        Visibility is left as it is, so `restore_video` returns the video exactly as it was. A
        second takedown replaces the reason and keeps the first takedown time.
        """
        reason = reason.strip()
        if not reason:
            raise InvalidValue("a takedown needs a reason")
        query = sql.SQL(
            "UPDATE videos SET taken_down_at = coalesce(taken_down_at, now()),"
            " takedown_reason = %s WHERE id = %s RETURNING {}"
        ).format(_columns(Video))
        with self._transaction() as conn:
            video = _fetch_one(conn, Video, query, (reason, video_id))
        return _found(video, f"video {video_id}")

    def restore_video(self, video_id: UUID) -> Video:
        """Undo a takedown; restoring a video that is not taken down changes nothing."""
        query = sql.SQL(
            "UPDATE videos SET taken_down_at = NULL, takedown_reason = NULL"
            " WHERE id = %s RETURNING {}"
        ).format(_columns(Video))
        with self._transaction() as conn:
            video = _fetch_one(conn, Video, query, (video_id,))
        return _found(video, f"video {video_id}")

    def delete_video(self, video_id: UUID) -> tuple[Video, list[Upload]]:
        """Remove a video with its stream assets, DRM keys, comments and uploads, for good.

        Returns the removed row and its uploads, so that the caller can remove the objects
        (published versions, sources, unfinished multipart uploads) that the rows named.
        """
        uploads_query = sql.SQL(
            "SELECT {} FROM uploads WHERE video_id = %s ORDER BY created_at, id"
        ).format(_columns(Upload))
        delete = sql.SQL("DELETE FROM videos WHERE id = %s RETURNING {}").format(_columns(Video))
        with self._transaction() as conn:
            # The row lock keeps a publishing run or a new upload from slipping in between.
            _row_value(conn, "videos", video_id, for_update=True)
            uploads = _all(conn, Upload, uploads_query, (video_id,))
            return _one(conn, Video, delete, (video_id,)), uploads

    def latest_upload(self, video_id: UUID) -> Upload:
        """The newest upload of a video, in whatever state."""
        query = sql.SQL(
            "SELECT {} FROM uploads WHERE video_id = %s ORDER BY created_at DESC, id DESC LIMIT 1"
        ).format(_columns(Upload))
        with self._transaction() as conn:
            upload = _fetch_one(conn, Upload, query, (video_id,))
        return _found(upload, f"upload of video {video_id}")

    def drm_keys_by_id(self, key_ids: Iterable[UUID]) -> list[DrmKey]:
        """The stored keys among `key_ids`, without key material; unknown ids are left out."""
        query = sql.SQL("SELECT {} FROM drm_keys WHERE key_id = ANY(%s) ORDER BY key_id").format(
            _columns(DrmKey)
        )
        with self._transaction() as conn:
            return _all(conn, DrmKey, query, (list(set(key_ids)),))

    # Feed, comments and billing

    def database_now(self) -> datetime:
        """The database's clock: the one every `created_at` and `published_at` is written by."""
        with self._transaction() as conn:
            row = conn.execute("SELECT now()").fetchone()
        if row is None:
            raise RuntimeError("SELECT now() gave no row")
        now: datetime = row[0]
        return now

    def trending(
        self, limit: int = 20, *, day: date | None = None
    ) -> list[tuple[TrendingVideo, Video]]:
        """The latest day's trending ranking (the latest up to `day`) of videos anyone may
        watch, best first."""
        with self._transaction() as conn:
            ranked = top_trending(conn, limit, day=day)
        videos = self.get_videos(entry.video_id for entry in ranked)
        return [(entry, videos[entry.video_id]) for entry in ranked if entry.video_id in videos]

    def get_videos(self, video_ids: Iterable[UUID]) -> dict[UUID, Video]:
        """The videos with these ids, by id, whatever their state; unknown ids are left out."""
        query = sql.SQL("SELECT {} FROM videos WHERE id = ANY(%s)").format(_columns(Video))
        with self._transaction() as conn:
            videos = _all(conn, Video, query, (list(set(video_ids)),))
        return {video.id: video for video in videos}

    def search_listed_videos(
        self,
        query: str,
        *,
        viewer_id: UUID | None = None,
        tags: Iterable[str] | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Video]:
        """`search_videos` over what a listing may show `viewer_id` (None: anonymous).

        Published public and premium videos, and the viewer's own published private ones; never
        unlisted videos, other people's private ones, or taken-down ones, not even for admins.
        Ranked exactly as `search_videos` ranks.
        """
        conditions: list[sql.Composable] = [
            sql.SQL(
                "(v.visibility IN ('public', 'premium')"
                " OR (v.visibility = 'private' AND v.uploaded_by_user_id = %(viewer_id)s))"
            ),
            sql.SQL("v.published_version IS NOT NULL"),
            sql.SQL("v.taken_down_at IS NULL"),
        ]
        viewer: dict[str, object] = {"viewer_id": viewer_id}
        return self._search(query, conditions, viewer, tags=tags, limit=limit, offset=offset)

    def list_feed_candidates(self, as_of: datetime, *, limit: int) -> list[tuple[Video, int]]:
        """Listable videos published by `as_of`, newest first, each with its comments by `as_of`.

        Listable: public or premium, published, not taken down. Counting only what existed at
        `as_of` gives the same counts on every call with the same `as_of`, which is what keeps
        a feed's order fixed while a client pages through it.
        """
        query = sql.SQL(
            "SELECT {},"
            " (SELECT count(*) FROM comments AS c"
            "  WHERE c.video_id = v.id AND c.created_at <= %(as_of)s)"
            " FROM videos AS v"
            " WHERE v.visibility IN ('public', 'premium') AND v.published_version IS NOT NULL"
            " AND v.taken_down_at IS NULL AND v.published_at <= %(as_of)s"
            " ORDER BY v.published_at DESC, v.id DESC LIMIT %(limit)s"
        ).format(_columns(Video, "v"))
        names = list(Video.model_fields)
        with self._transaction() as conn:
            rows = conn.execute(query, {"as_of": as_of, "limit": limit}).fetchall()
        return [
            (Video.model_validate(dict(zip(names, row[:-1], strict=True))), row[-1]) for row in rows
        ]

    def list_published_videos(self) -> list[Video]:
        """Every video with a published version, whatever its visibility, oldest first.

        The catalogue a recommendation model learns; what may be shown is decided when serving.
        """
        query = sql.SQL(
            "SELECT {} FROM videos WHERE published_version IS NOT NULL ORDER BY created_at, id"
        ).format(_columns(Video))
        with self._transaction() as conn:
            return _all(conn, Video, query, ())

    def get_comment(self, comment_id: UUID) -> Comment:
        """The comment with this id."""
        query = sql.SQL("SELECT {} FROM comments WHERE id = %s").format(_columns(Comment))
        with self._transaction() as conn:
            return _found(_fetch_one(conn, Comment, query, (comment_id,)), f"comment {comment_id}")

    def set_stripe_customer_id(self, user_id: UUID, customer_id: str) -> str:
        """Remember the user's Stripe customer unless one is stored; returns the stored one.

        The first one stored wins, so two concurrent first subscriptions agree on a customer.
        """
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "UPDATE users SET stripe_customer_id = coalesce(stripe_customer_id, %s)"
                    " WHERE id = %s RETURNING stripe_customer_id",
                    (customer_id, user_id),
                ).fetchone()
        except errors.UniqueViolation as exc:
            raise Conflict(f"Stripe customer {customer_id!r} belongs to another user") from exc
        if row is None:
            raise NotFound(f"user {user_id}")
        stored: str = row[0]
        return stored

    @contextmanager
    def claim_billing_event(self, event_id: str, event_type: str) -> Iterator[bool]:
        """Record a payment provider's event for the block; yields False if already recorded.

        The record commits only when the block ends without an error, so an event whose
        handling failed is handled again when the provider retries it. Meanwhile a concurrent
        delivery of the same event waits on the record, and then finds it recorded.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "INSERT INTO billing_events (event_id, event_type) VALUES (%s, %s)"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                (event_id, event_type),
            ).fetchone()
            yield row is not None


@cache
def _columns(model: type[_Model], table: str | None = None) -> sql.Composed:
    """The model's fields as a select list; models name their columns exactly."""
    names = model.model_fields
    if table is None:
        return sql.SQL(", ").join(sql.Identifier(name) for name in names)
    return sql.SQL(", ").join(sql.Identifier(table, name) for name in names)


def _assignments(changes: Mapping[str, object]) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
    )


def _fetch_one(
    conn: Connection, model: type[M], query: Query, params: Sequence[object]
) -> M | None:
    with conn.cursor(row_factory=class_row(model)) as cur:
        cur.execute(query, params)
        return cur.fetchone()


def _one(conn: Connection, model: type[M], query: Query, params: Sequence[object]) -> M:
    row = _fetch_one(conn, model, query, params)
    if row is None:
        raise RuntimeError(f"statement returned no row: {query.as_string(conn)}")
    return row


def _all(
    conn: Connection,
    model: type[M],
    query: Query,
    params: Sequence[object] | Mapping[str, object],
) -> list[M]:
    with conn.cursor(row_factory=class_row(model)) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def _user(conn: Connection, user_id: UUID) -> User:
    query = sql.SQL("SELECT {} FROM users WHERE id = %s").format(_columns(User))
    return _found(_fetch_one(conn, User, query, (user_id,)), f"user {user_id}")


def _insert_analytics_erasure(conn: Connection, days: Iterable[date]) -> None:
    distinct = sorted(set(days))
    if distinct:
        conn.execute("INSERT INTO analytics_erasures (days) VALUES (%s)", (distinct,))


def _found(row: M | None, what: str) -> M:
    if row is None:
        raise NotFound(what)
    return row


def _row_value(
    conn: Connection,
    table: str,
    row_id: UUID,
    *,
    column: str = "id",
    for_update: bool = False,
) -> Any:
    """One column of a row by id (locked when `for_update`); NotFound when there is no row."""
    query = sql.SQL("SELECT {} FROM {} WHERE id = %s {}").format(
        sql.Identifier(column),
        sql.Identifier(table),
        sql.SQL("FOR UPDATE" if for_update else ""),
    )
    row = conn.execute(query, (row_id,)).fetchone()
    if row is None:
        raise NotFound(f"{table.rstrip('s')} {row_id}")
    return row[0]


def _tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, lower-case, first occurrence kept, blanks dropped."""
    return list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))


def _refresh_user_subscription_status(conn: Connection, user_id: UUID) -> None:
    """Summarise a user's subscriptions: any active wins over past due over canceled."""
    conn.execute(
        """
        UPDATE users SET subscription_status = coalesce(
            (SELECT CASE
                        WHEN bool_or(status = 'active') THEN 'active'
                        WHEN bool_or(status = 'past_due') THEN 'past_due'
                        WHEN bool_or(status = 'canceled') THEN 'canceled'
                    END
             FROM subscriptions WHERE user_id = %(user_id)s),
            'none')
        WHERE id = %(user_id)s
        """,
        {"user_id": user_id},
    )


def _settle_videos_after_upload_ended(conn: Connection, video_ids: Sequence[UUID]) -> None:
    """Return to `pending` the uploading videos whose latest upload was aborted or expired."""
    if not video_ids:
        return
    conn.execute(
        """
        UPDATE videos AS v SET encoding_status = 'pending'
        WHERE v.id = ANY(%s) AND v.encoding_status = 'uploading'
          AND (SELECT u.status FROM uploads AS u WHERE u.video_id = v.id
               ORDER BY u.created_at DESC, u.id DESC LIMIT 1) IN ('aborted', 'expired')
        """,
        (list(set(video_ids)),),
    )
