"""Tables for the Dagster UI: a DataFrame as a Markdown table, floats to three decimals."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from assets.metadata import markdown_table


def test_a_frame_becomes_a_header_a_rule_and_one_row_per_record() -> None:
    frame = pd.DataFrame(
        {
            "model": ["popularity", "hybrid"],
            "ndcg@10": [0.1, 0.23456],
            "users": [120, 120],
            "at": [datetime(2026, 11, 2, 3, tzinfo=UTC)] * 2,
        }
    )
    assert markdown_table(frame).splitlines() == [
        "| model | ndcg@10 | users | at |",
        "|---|---|---|---|",
        "| popularity | 0.100 | 120 | 2026-11-02 03:00:00+00:00 |",
        "| hybrid | 0.235 | 120 | 2026-11-02 03:00:00+00:00 |",
    ]


def test_an_empty_frame_keeps_its_header() -> None:
    frame = pd.DataFrame(columns=["video", "upload", "expired at"])
    assert markdown_table(frame) == "| video | upload | expired at |\n|---|---|---|"


def test_only_floats_are_rounded() -> None:
    frame = pd.DataFrame({"name": ["1.23456"], "count": [7], "share": [2 / 3]})
    assert markdown_table(frame).splitlines()[-1] == "| 1.23456 | 7 | 0.667 |"
