"""DRM keys: content keys stored wrapped under a master key, one video each."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from uuid import UUID

from psycopg import errors, sql

from storage import crypto
from storage.catalog.base import CatalogBase, _columns, _fetch_one
from storage.catalog.errors import DrmKeyConflict, NotFound
from storage.catalog.models import DrmContentKey, DrmKey, DrmScheme


class DrmKeys(CatalogBase):
    """The `drm_keys` table: storing keys idempotently and unwrapping them for licences."""

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
        return self._rows(DrmKey, query, (video_id,))

    def drm_keys_by_id(self, key_ids: Iterable[UUID]) -> list[DrmKey]:
        """The stored keys among `key_ids`, without key material; unknown ids are left out."""
        query = sql.SQL("SELECT {} FROM drm_keys WHERE key_id = ANY(%s) ORDER BY key_id").format(
            _columns(DrmKey)
        )
        return self._rows(DrmKey, query, (list(set(key_ids)),))
