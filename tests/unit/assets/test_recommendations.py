"""What a model learns from: the interaction rows of the training window, in the models' terms."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from assets.recommendations import training_interactions
from storage.engagement import INTERACTIONS, INTERACTIONS_SCHEMA, write_partition
from storage.objects import LocalObjectStore

UNTIL = datetime(2026, 11, 10, 18, tzinfo=UTC)


def interactions(day: date, *rows: tuple[str, float | None, float | None]) -> pd.DataFrame:
    """(viewer, completion, max progress) rows of one day, watched at noon for 30 s."""
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return pd.DataFrame(
        [
            (viewer, f"video-of-{viewer}", 2, 1, 30.0, 30.0, 60.0, progress, completion)
            + (True, False, at, at)
            for viewer, completion, progress in rows
        ],
        columns=INTERACTIONS_SCHEMA.names,
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", "http://cdn.test", b"unit-test")


def test_the_window_ends_on_the_day_of_training(store: LocalObjectStore) -> None:
    for day, viewer in (
        (date(2026, 11, 7), "too-old"),
        (date(2026, 11, 8), "first-day"),
        (date(2026, 11, 10), "last-day"),
        (date(2026, 11, 11), "after"),
    ):
        write_partition(store, INTERACTIONS, day, interactions(day, (viewer, 0.5, 0.5)))
    write_partition(store, INTERACTIONS, date(2026, 11, 9), interactions(date(2026, 11, 9)))

    rows = training_interactions(store, UNTIL, days=3)

    assert list(rows.columns) == ["user", "item", "watched_s", "completion", "timestamp"]
    assert sorted(rows["user"]) == ["first-day", "last-day"]
    noon = datetime(2026, 11, 8, 12, tzinfo=UTC).timestamp()
    assert rows.set_index("user").loc["first-day", "timestamp"] == noon


def test_a_missing_completion_falls_back_to_progress_then_to_nothing(
    store: LocalObjectStore,
) -> None:
    day = UNTIL.date()
    rows = [("reported", 0.9, 1.0), ("no duration", None, 0.4), ("nothing", None, None)]
    write_partition(store, INTERACTIONS, day, interactions(day, *rows))

    completion = training_interactions(store, UNTIL, days=1).set_index("user")["completion"]

    assert completion.to_dict() == {"reported": 0.9, "no duration": 0.4, "nothing": 0.0}


def test_no_interactions_give_an_empty_frame_the_models_can_read(store: LocalObjectStore) -> None:
    rows = training_interactions(store, UNTIL, days=90)
    assert rows.empty
    assert list(rows.columns) == ["user", "item", "watched_s", "completion", "timestamp"]
