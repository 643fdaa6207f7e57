"""What many viewers read alike, shared by the API workers for `cache_ttl_s`: a public video's
metadata with its signed playback block, video rows for the access rules of hot routes, the
trending pages and the feed's candidates.

A video's entry is the answer every viewer but its owner and admins gets (they may see more).
Every change the API makes to the video (an edit, a takedown, its deletion, a new upload) drops
it at once through `Catalog.on_changed`. Changes made by the pipeline (a new published version,
a failure) show within `cache_ttl_s`; the version a cached answer names stays published and
playable meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import TypeVar
from uuid import UUID

from pydantic import BaseModel

from api.cache import SharedCache
from reelflow.settings import Settings
from storage.catalog import FeedCandidate, Video
from storage.trending import TrendingVideo

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

    def video_row(self, video_id: UUID, load: Callable[[], Video]) -> Video:
        """The video's catalog row, for the access rules of hot routes (watch reports,
        licences); dropped with the video's answer."""
        return self._cache.read_through(
            self._video_key(video_id),
            "row",
            load,
            lambda video: video.model_dump_json(),
            Video.model_validate_json,
            self._ttl_s,
        )

    def forget_video(self, video_id: UUID) -> None:
        """Drop the video's answer, and the feed's candidates, which may list it."""
        for key in (self._video_key(video_id), self._cache.key("feed")):
            self._cache.drop(key, marker_ttl_s=2 * self._ttl_s)

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

    def feed_candidates(
        self,
        as_of: datetime | None,
        now: Callable[[], datetime],
        load: Callable[[datetime], list[FeedCandidate]],
    ) -> tuple[datetime, list[FeedCandidate]]:
        """The feed's candidates as of `as_of` (a later page's), or as of the moment the latest
        shared list was read (a first page's; `now()` when there is none), and that moment.

        First pages within `cache_ttl_s` share one moment and one list, which is why a new
        video reaches feeds that much later; the list is dropped with any video change the API
        makes.
        """

        def read(moment: datetime) -> tuple[datetime, list[FeedCandidate]]:
            return moment, load(moment)

        variant = "latest" if as_of is None else as_of.isoformat()
        return self._cache.read_through(
            self._cache.key("feed"),
            variant,
            lambda: read(now() if as_of is None else as_of),
            _dump_candidates,
            _parse_candidates,
            self._ttl_s,
        )

    def trending_ranking(
        self, day: date | None, load: Callable[[], list[TrendingVideo]]
    ) -> list[TrendingVideo]:
        """The trending ranking of `day` (None: the latest) as the feed ranks with it."""
        return self._cache.read_through(
            self._cache.key("trending-ranking"),
            "latest" if day is None else day.isoformat(),
            load,
            _dump_ranking,
            _parse_ranking,
            self._ttl_s,
        )

    def _video_key(self, video_id: UUID) -> str:
        return self._cache.key("video", video_id)


def _dump_candidates(read: tuple[datetime, list[FeedCandidate]]) -> str:
    moment, candidates = read
    rows = [(c.video_id.hex, c.published_at.isoformat(), c.comments) for c in candidates]
    return json.dumps([moment.isoformat(), rows], separators=(",", ":"))


# Every first page reads the same list until it changes: parsed once per worker.
@lru_cache(maxsize=4)
def _parse_candidates(raw: bytes) -> tuple[datetime, list[FeedCandidate]]:
    moment, rows = json.loads(raw)
    parse = datetime.fromisoformat
    candidates = [FeedCandidate(UUID(hex=id_), parse(at), n) for id_, at, n in rows]
    return parse(moment), candidates


def _dump_ranking(ranking: list[TrendingVideo]) -> str:
    rows = [(t.day.isoformat(), t.video_id.hex, t.score, t.rank) for t in ranking]
    return json.dumps(rows, separators=(",", ":"))


def _parse_ranking(raw: bytes) -> list[TrendingVideo]:
    return [
        TrendingVideo(date.fromisoformat(day), UUID(hex=id_), score, rank)
        for day, id_, score, rank in json.loads(raw)
    ]


def _video_answer(raw: bytes) -> VideoAnswer:
    owner, _, body = raw.decode().partition("\n")
    return VideoAnswer(UUID(owner), body, shared=True, cached=True)
