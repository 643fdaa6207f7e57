"""The playback quality checks fail on the rows that break their rule, and only on those."""

from __future__ import annotations

import pandas as pd

from assets.playback import QUALITY_KEY, _quality_checks


def rows(**changes: list[object]) -> pd.DataFrame:
    good: dict[str, list[object]] = {
        "video_id": ["a", "b"],
        "plays": [3, 1],
        "video_start_failures": [1, 0],
        "exits_before_start": [1, 0],
        "ttff_median_ms": [700.0, None],
        "ttff_p95_ms": [900.0, None],
        "rebuffer_ratio": [0.25, None],
        "avg_bitrate_kbps": [1500.0, None],
        "rendition_switches": [2, 0],
    }
    return pd.DataFrame(good | changes)


def outcome(frame: pd.DataFrame) -> dict[str, int]:
    return {
        check.check_name: check.metadata["failing_rows"].value
        for check in _quality_checks(QUALITY_KEY, frame)
    }


def test_good_rows_pass_every_check_even_with_empty_figures() -> None:
    assert outcome(rows()) == {
        "no_negative_values": 0,
        "ratios_within_bounds": 0,
        "plays_cover_failures_and_exits": 0,
    }


def test_each_broken_rule_names_its_failing_rows() -> None:
    assert outcome(rows(ttff_median_ms=[-1.0, None]))["no_negative_values"] == 1
    assert outcome(rows(rebuffer_ratio=[1.5, -0.1]))["ratios_within_bounds"] == 2
    assert outcome(rows(exits_before_start=[3, 0]))["plays_cover_failures_and_exits"] == 1
