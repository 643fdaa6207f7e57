"""The analyst datasets in both object stores: one object per day, replaced whole."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from storage.engagement import (
    ENGAGEMENT,
    TRENDING,
    partition_days,
    partition_folder,
    read_partition,
    trending_scores,
    write_partition,
)
from storage.objects import ObjectStore

DAY = date(2026, 11, 2)


def engagement(video_ids: list[str], views: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": video_ids,
            "events": [views * 3] * len(video_ids),
            "views": [views] * len(video_ids),
            "unique_viewers": [views] * len(video_ids),
            "sessions": [views] * len(video_ids),
            "watched_s": [12.5] * len(video_ids),
            "median_watched_s": [10.0] * len(video_ids),
            "avg_completion": [0.5] * len(video_ids),
            "finishes": [0] * len(video_ids),
            "duration_s": [60.0] * len(video_ids),
        }
    )


def test_writing_a_day_replaces_it_exactly(object_store: ObjectStore) -> None:
    folder = partition_folder(ENGAGEMENT, DAY)
    write_partition(object_store, ENGAGEMENT, DAY, engagement(["a", "b", "c"], 1))
    # A file of another layout (or a crashed writer) must not survive the next write.
    object_store.put_bytes(f"{folder}/part-00001.parquet", b"stale")

    key = write_partition(object_store, ENGAGEMENT, DAY, engagement(["d"], 2))

    assert object_store.list(folder) == [key] == [f"{folder}/part-00000.parquet"]
    frame = read_partition(object_store, ENGAGEMENT, DAY)
    assert frame is not None
    pd.testing.assert_frame_equal(frame, engagement(["d"], 2))
    assert partition_days(object_store, ENGAGEMENT) == [DAY]


def test_an_empty_day_reads_back_empty_and_a_missing_day_as_none(
    object_store: ObjectStore,
) -> None:
    ranking = trending_scores(pd.DataFrame({"day": [], "video_id": [], "views": []}), DAY)
    write_partition(object_store, TRENDING, DAY, ranking)

    frame = read_partition(object_store, TRENDING, DAY)
    assert frame is not None and frame.empty
    assert list(frame.columns) == ["rank", "video_id", "score", "window_views"]
    assert read_partition(object_store, TRENDING, date(2026, 11, 3)) is None


def test_unknown_datasets_are_refused(object_store: ObjectStore) -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        partition_folder("users", DAY)
