"""Trending videos: the daily ranking the engagement pipeline writes to the catalog."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import LaggingReadsDep, PublicReadsDep, SettingsDep
from api.schemas.social import VideoCardPublic

router = APIRouter(prefix="/videos", tags=["feed"])


class TrendingItemPublic(BaseModel):
    rank: int
    score: float
    video: VideoCardPublic


class TrendingPublic(BaseModel):
    day: date | None
    items: list[TrendingItemPublic]


@router.get("/trending", response_model=TrendingPublic)
def trending(
    lagging: LaggingReadsDep,
    settings: SettingsDep,
    reads: PublicReadsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> TrendingPublic:
    """The videos trending over the last days, best first (public videos only)."""

    def load() -> TrendingPublic:
        ranked = lagging.run(lambda catalog: catalog.trending(limit))
        return TrendingPublic(
            day=ranked[0][0].day if ranked else None,
            items=[
                TrendingItemPublic(
                    rank=entry.rank, score=entry.score, video=VideoCardPublic.of(video, settings)
                )
                for entry, video in ranked
            ],
        )

    return reads.model("trending", f"limit={limit}", load, TrendingPublic)
