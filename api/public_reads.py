"""What many viewers read alike, shared by the API workers for `cache_ttl_s`: a public video's
metadata with its signed playback block, and the trending pages.

A video's entry is the answer every viewer but its owner and admins gets (they may see more).
Every change the API makes to the video (an edit, a takedown, its deletion, a new upload) drops
it at once through `Catalog.on_changed`. Changes made by the pipeline (a new published version,
a failure) show within `cache_ttl_s`; the version a cached answer names stays published and
playable meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from pydantic import BaseModel

from api.cache import SharedCache
from reelflow.settings import Settings

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class VideoAnswer:
    """The JSON answer about a video; `shared` when every viewer but its managers gets it."""

    owner_id: UUID
    body: str
    shared: bool
    cached: bool = False


class PublicReads:
    def __init__(self, cache: SharedCache, settings: Settings) -> None:
        self._cache = cache
        self._ttl_s = settings.cache_ttl_s

    def video(self, video_id: UUID, load: Callable[[], VideoAnswer]) -> VideoAnswer:
        return self._cache.read_through(
            self._video_key(video_id),
            "viewers",
            load,
            lambda answer: f"{answer.owner_id}\n{answer.body}" if answer.shared else None,
            _video_answer,
            self._ttl_s,
        )

    def forget_video(self, video_id: UUID) -> None:
        self._cache.drop(self._video_key(video_id), marker_ttl_s=2 * self._ttl_s)

    def model(self, name: str, variant: str, load: Callable[[], M], model: type[M]) -> M:
        """A response model read alike by everyone, e.g. ("trending", "limit=20")."""
        return self._cache.read_through(
            self._cache.key(name),
            variant,
            load,
            lambda value: value.model_dump_json(),
            model.model_validate_json,
            self._ttl_s,
        )

    def _video_key(self, video_id: UUID) -> str:
        return self._cache.key("video", video_id)


def _video_answer(raw: bytes) -> VideoAnswer:
    owner, _, body = raw.decode().partition("\n")
    return VideoAnswer(UUID(owner), body, shared=True, cached=True)
