"""The daily community dataset: per video, its likes and dislikes at the end of a UTC day and
the ratings and playlist additions made on it, as `Catalog.community_day` computes them."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from storage.catalog.ratings import CommunityDay

COMMUNITY = "daily_video_community"
COMMUNITY_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("likes", pa.int64(), nullable=False),
        pa.field("dislikes", pa.int64(), nullable=False),
        pa.field("likes_added", pa.int64(), nullable=False),
        pa.field("dislikes_added", pa.int64(), nullable=False),
        pa.field("playlist_adds", pa.int64(), nullable=False),
    ]
)
COUNTS = [name for name in COMMUNITY_SCHEMA.names if name != "video_id"]


def community_frame(day: CommunityDay) -> pd.DataFrame:
    """The day's rows sorted by `video_id`, typed as the dataset stores them."""
    frame = pd.DataFrame(
        {
            "video_id": [str(row.video_id) for row in day.rows],
            **{name: [getattr(row, name) for row in day.rows] for name in COUNTS},
        },
        columns=COMMUNITY_SCHEMA.names,
    )
    frame = frame.astype({"video_id": "string", **dict.fromkeys(COUNTS, "int64")})
    return frame.sort_values("video_id", ignore_index=True)
