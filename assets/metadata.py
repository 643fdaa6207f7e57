"""Metadata shared by the assets: tables rendered as Markdown for the Dagster UI."""

from typing import Any

import pandas as pd


def markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join(_cell(value) for value in row) + " |" for row in frame.itertuples(False)
    ]
    return "\n".join([header, rule, *rows])


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
