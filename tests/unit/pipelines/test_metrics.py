"""The pure parts of the pipeline figures and alerts: quantiles, model versions' times, days'
starts, and the daily moment a day's datasets are due."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.alerts import dataset_due_cron
from pipelines.metrics import day_start, quantile, version_time
from storage.objects import new_version


def test_quantiles_interpolate_between_ranks_whatever_the_order() -> None:
    values = [1200.0, 600.0, 900.0, 300.0]

    assert quantile(values, 0.5) == 750.0
    assert quantile(values, 0.95) == pytest.approx(1155.0)
    assert quantile(values, 0.0) == 300.0
    assert quantile(values, 1.0) == 1200.0
    assert quantile([42.0], 0.95) == 42.0


def test_a_quantile_of_nothing_is_nan_and_outside_zero_to_one_is_refused() -> None:
    assert math.isnan(quantile([], 0.5))
    with pytest.raises(ValueError, match="quantile"):
        quantile([1.0], 95)


def test_a_model_version_says_when_it_was_made() -> None:
    made = datetime(2026, 11, 28, 6, 30, 15, 123456, tzinfo=UTC)

    assert version_time(new_version(made)) == made
    with pytest.raises(ValueError, match="not a version"):
        version_time("CURRENT")


def test_a_daily_partition_starts_at_midnight_utc() -> None:
    assert day_start("2026-12-01") == datetime(2026, 12, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("due_after", "cron"),
    [
        (timedelta(hours=36), "0 12 * * *"),
        (timedelta(hours=24), "0 0 * * *"),
        (timedelta(hours=6), "0 6 * * *"),
    ],
)
def test_a_day_is_due_at_the_hour_its_delay_ends_on(due_after: timedelta, cron: str) -> None:
    assert dataset_due_cron(due_after) == cron


def test_a_delay_in_parts_of_hours_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number of hours"):
        dataset_due_cron(timedelta(hours=36, minutes=30))
