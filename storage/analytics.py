"""Creator and analyst figures over a range of days, from the daily Parquet datasets.

Plain pandas and pyarrow over any `ObjectStore`, callable from a notebook: `read_days` reads the
days of a range of one dataset (one listing for the whole range, then one object per day),
`scope_report` turns the engagement, community and playback quality days of a set of videos
(or of every video) into a daily series and totals over the range. A day whose partition was
never written is reported in `days_missing` and its figures are None; it is never an error, the
pipeline may simply not have aggregated it yet. docs/analytics.md says how each total is made.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from storage.engagement import ANALYTICS_PREFIX, ENGAGEMENT
from storage.objects import ObjectStore

COMMUNITY = "daily_video_community"
PLAYBACK_QUALITY = "daily_playback_quality"
PLAYBACK_QUALITY_OVERALL = "daily_playback_quality_overall"
# A year and a day: a leap year fits, and a year-on-year window ending on the same date.
MAX_RANGE_DAYS = 366

ENGAGEMENT_COLUMNS = ("views", "unique_viewers", "watched_s", "avg_completion")
COMMUNITY_COLUMNS = ("likes", "dislikes", "likes_added", "dislikes_added", "playlist_adds")
QUALITY_COUNTS = ("plays", "video_start_failures", "exits_before_start", "rendition_switches")
# Per-day figures that are not sums: over several videos or days they are weighted by plays.
QUALITY_MEANS = ("ttff_median_ms", "ttff_p95_ms", "rebuffer_ratio", "avg_bitrate_kbps")
QUALITY_COLUMNS = QUALITY_COUNTS + QUALITY_MEANS

_PARTITION_DAY = re.compile(r"/day=(\d{4}-\d{2}-\d{2})/")


class InvalidRange(ValueError):
    """A range of days that is reversed or longer than MAX_RANGE_DAYS."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def day_range(first: date, last: date, *, max_days: int = MAX_RANGE_DAYS) -> list[date]:
    """Every day from `first` to `last`, both included, oldest first."""
    if first > last:
        raise InvalidRange("invalid_range", f"from ({first}) is after to ({last})")
    count = (last - first).days + 1
    if count > max_days:
        raise InvalidRange(
            "range_too_long", f"the range spans {count} days; at most {max_days} are allowed"
        )
    return [first + timedelta(days=n) for n in range(count)]


def read_days(
    store: ObjectStore, dataset: str, days: Iterable[date], columns: Sequence[str]
) -> dict[date, pd.DataFrame]:
    """The partitions of `dataset` among `days` (only `columns`), by day; days never written
    are absent. The dataset's folder is listed once, however long the range."""
    wanted = set(days)
    keys: dict[date, list[str]] = {}
    for key in store.list(f"{ANALYTICS_PREFIX}/{dataset}/"):
        match = _PARTITION_DAY.search(key)
        if match is None or not key.endswith(".parquet"):
            continue
        day = date.fromisoformat(match.group(1))
        if day in wanted:
            keys.setdefault(day, []).append(key)
    frames: dict[date, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory(prefix="reelflow-analytics-") as tmp:
        for day, day_keys in sorted(keys.items()):
            tables = []
            for n, key in enumerate(sorted(day_keys)):
                path = Path(tmp) / f"{day.isoformat()}-{n}.parquet"
                store.download(key, path)
                tables.append(pq.read_table(path, columns=list(columns)))
                path.unlink()
            frames[day] = pa.concat_tables(tables).to_pandas()
    return frames


@dataclass(frozen=True)
class DayFigures:
    """One day of a scope. None means the dataset holding the figure has no partition for the
    day (or, for means, that there was nothing to average: no viewer, no play)."""

    day: date
    views: int | None = None
    unique_viewers: int | None = None
    watched_s: float | None = None
    avg_completion: float | None = None
    likes: int | None = None
    dislikes: int | None = None
    likes_added: int | None = None
    dislikes_added: int | None = None
    playlist_adds: int | None = None
    plays: int | None = None
    video_start_failures: int | None = None
    exits_before_start: int | None = None
    rendition_switches: int | None = None
    ttff_median_ms: float | None = None
    ttff_p95_ms: float | None = None
    rebuffer_ratio: float | None = None
    avg_bitrate_kbps: float | None = None


@dataclass(frozen=True)
class RangeTotals:
    """A scope's figures over the whole range, from the days that are present.

    `unique_viewers_summed` is the sum of the daily unique viewers: a viewer counts once per
    video and day watched, so it is not the number of distinct people. `likes` and `dislikes`
    are the totals at the end of `ratings_as_of`, the last day of the range with a partition.
    Completion is weighted by viewers, the QoE means by plays.
    """

    views: int = 0
    unique_viewers_summed: int = 0
    watched_s: float = 0.0
    avg_completion: float | None = None
    likes: int | None = None
    dislikes: int | None = None
    ratings_as_of: date | None = None
    likes_added: int = 0
    dislikes_added: int = 0
    playlist_adds: int = 0
    plays: int = 0
    video_start_failures: int = 0
    exits_before_start: int = 0
    rendition_switches: int = 0
    ttff_median_ms: float | None = None
    ttff_p95_ms: float | None = None
    rebuffer_ratio: float | None = None
    avg_bitrate_kbps: float | None = None


@dataclass(frozen=True)
class Report:
    """A scope's daily series and totals over a range of days."""

    first: date
    last: date
    days: list[DayFigures]
    totals: RangeTotals
    days_missing: dict[str, list[date]] = field(default_factory=dict)


def scope_report(
    store: ObjectStore, video_ids: Collection[str] | None, first: date, last: date
) -> Report:
    """The figures of `video_ids` (lower-case UUID strings; None for every video, with QoE
    from the overall dataset) from `first` to `last`; InvalidRange for a bad range."""
    days = day_range(first, last)
    quality = PLAYBACK_QUALITY if video_ids is not None else PLAYBACK_QUALITY_OVERALL
    video_column = () if video_ids is None else ("video_id",)
    frames = {
        ENGAGEMENT: read_days(store, ENGAGEMENT, days, ("video_id", *ENGAGEMENT_COLUMNS)),
        COMMUNITY: read_days(store, COMMUNITY, days, ("video_id", *COMMUNITY_COLUMNS)),
        quality: read_days(store, quality, days, (*video_column, *QUALITY_COLUMNS)),
    }
    return summarise(days, frames, video_ids)


def summarise(
    days: Sequence[date],
    frames: Mapping[str, Mapping[date, pd.DataFrame]],
    video_ids: Collection[str] | None,
) -> Report:
    """The report of `days` from the partitions read (`frames[dataset][day]`); a dataset or a
    day not in `frames` counts as never written."""
    wanted = None if video_ids is None else {str(video_id).lower() for video_id in video_ids}

    def rows(dataset: str, day: date) -> pd.DataFrame | None:
        frame = frames.get(dataset, {}).get(day)
        if frame is None or wanted is None or "video_id" not in frame:
            return frame
        return frame[frame["video_id"].isin(wanted)]

    quality = PLAYBACK_QUALITY if video_ids is not None else PLAYBACK_QUALITY_OVERALL
    series = []
    for day in days:
        figures: dict[str, Any] = {}
        engagement = rows(ENGAGEMENT, day)
        if engagement is not None:
            figures.update(_engagement_day(engagement))
        community = rows(COMMUNITY, day)
        if community is not None:
            figures.update({name: _int_sum(community[name]) for name in COMMUNITY_COLUMNS})
        playback = rows(quality, day)
        if playback is not None:
            figures.update(_quality_day(playback))
        series.append(DayFigures(day=day, **figures))
    missing = {
        dataset: [day for day in days if day not in frames.get(dataset, {})]
        for dataset in (ENGAGEMENT, COMMUNITY, quality)
    }
    return Report(days[0], days[-1], series, _totals(series), missing)


def _engagement_day(frame: pd.DataFrame) -> dict[str, Any]:
    viewers = frame["unique_viewers"].astype("float64")
    completion = frame["avg_completion"].astype("float64")
    known = completion.notna()
    return {
        "views": _int_sum(frame["views"]),
        "unique_viewers": _int_sum(frame["unique_viewers"]),
        "watched_s": float(frame["watched_s"].sum()),
        "avg_completion": _weighted(completion[known], viewers[known]),
    }


def _quality_day(frame: pd.DataFrame) -> dict[str, Any]:
    figures: dict[str, Any] = {name: _int_sum(frame[name]) for name in QUALITY_COUNTS}
    plays = frame["plays"].astype("float64")
    for name in QUALITY_MEANS:
        values = frame[name].astype("float64")
        known = values.notna()
        figures[name] = _weighted(values[known], plays[known])
    return figures


def _totals(series: Sequence[DayFigures]) -> RangeTotals:
    engaged = [day for day in series if day.views is not None]
    rated = [day for day in series if day.likes is not None]
    played = [day for day in series if day.plays is not None]
    last_rated = rated[-1] if rated else None
    return RangeTotals(
        views=sum(day.views or 0 for day in engaged),
        unique_viewers_summed=sum(day.unique_viewers or 0 for day in engaged),
        watched_s=float(sum(day.watched_s or 0.0 for day in engaged)),
        avg_completion=_mean_of_days(engaged, "avg_completion", "unique_viewers"),
        likes=None if last_rated is None else last_rated.likes,
        dislikes=None if last_rated is None else last_rated.dislikes,
        ratings_as_of=None if last_rated is None else last_rated.day,
        likes_added=sum(day.likes_added or 0 for day in rated),
        dislikes_added=sum(day.dislikes_added or 0 for day in rated),
        playlist_adds=sum(day.playlist_adds or 0 for day in rated),
        plays=sum(day.plays or 0 for day in played),
        video_start_failures=sum(day.video_start_failures or 0 for day in played),
        exits_before_start=sum(day.exits_before_start or 0 for day in played),
        rendition_switches=sum(day.rendition_switches or 0 for day in played),
        ttff_median_ms=_mean_of_days(played, "ttff_median_ms", "plays"),
        ttff_p95_ms=_mean_of_days(played, "ttff_p95_ms", "plays"),
        rebuffer_ratio=_mean_of_days(played, "rebuffer_ratio", "plays"),
        avg_bitrate_kbps=_mean_of_days(played, "avg_bitrate_kbps", "plays"),
    )


def _mean_of_days(days: Sequence[DayFigures], name: str, weight: str) -> float | None:
    pairs = [
        (value, getattr(day, weight) or 0)
        for day in days
        if (value := getattr(day, name)) is not None
    ]
    total = sum(w for _, w in pairs)
    if total <= 0:
        return None
    return float(sum(value * w for value, w in pairs) / total)


def _weighted(values: pd.Series, weights: pd.Series) -> float | None:
    total = float(weights.sum())
    if total <= 0:
        return None
    return float((values * weights).sum() / total)


def _int_sum(values: pd.Series) -> int:
    return int(values.fillna(0).sum())
