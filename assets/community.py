"""Community stage: each UTC day of ratings and playlist additions, from PostgreSQL, for analysts.

`daily_video_community` counts the catalog's rating event log and playlist items; a past day
computes the same rows again, since the totals are sums over the events up to the day's end.
It writes its Parquet partition under `analytics/` like the viewing datasets and runs in their
daily job.
"""

from datetime import date

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.engagement import daily_partitions
from assets.metadata import markdown_table
from assets.resources import CatalogResource, ObjectStoreResource
from storage.community import COMMUNITY, COUNTS, community_frame
from storage.engagement import write_partition

GROUP = "community"


@asset(
    name=COMMUNITY,
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"postgres", "pandas", "parquet"},
    check_specs=[
        AssetCheckSpec(
            "no_negative_counts",
            asset=COMMUNITY,
            blocking=True,
            description="Likes, dislikes, additions and playlist adds are not negative.",
        ),
        AssetCheckSpec(
            "unique_video_id",
            asset=COMMUNITY,
            blocking=True,
            description="One row per video.",
        ),
        AssetCheckSpec(
            "totals_match_ratings",
            asset=COMMUNITY,
            blocking=True,
            description="The day's like and dislike totals equal the ratings table's, less the "
            "changes logged since.",
        ),
    ],
)
def daily_video_community(
    context: AssetExecutionContext,
    catalog: CatalogResource,
    object_store: ObjectStoreResource,
) -> MaterializeResult:
    """Per video and day: likes and dislikes at the day's end, ratings and playlist adds made."""
    day = date.fromisoformat(context.partition_key)
    community = catalog.catalog.community_day(day)
    frame = community_frame(community)
    negative = int((frame[COUNTS] < 0).any(axis=1).sum())
    duplicated = int(frame["video_id"].duplicated().sum())
    totals = {"likes": int(frame["likes"].sum()), "dislikes": int(frame["dislikes"].sum())}
    expected = {"likes": community.likes, "dislikes": community.dislikes}
    return MaterializeResult(
        metadata={
            "object_key": write_partition(object_store.store(), COMMUNITY, day, frame),
            "dagster/row_count": len(frame),
            **{name: int(frame[name].sum()) for name in COUNTS},
            "top_liked": MetadataValue.md(_top(frame)),
        },
        check_results=[
            AssetCheckResult(
                check_name="no_negative_counts",
                passed=negative == 0,
                metadata={"failing_rows": negative},
            ),
            AssetCheckResult(
                check_name="unique_video_id",
                passed=duplicated == 0,
                metadata={"duplicated_rows": duplicated},
            ),
            AssetCheckResult(
                check_name="totals_match_ratings",
                passed=totals == expected,
                metadata={
                    "dataset_likes": totals["likes"],
                    "dataset_dislikes": totals["dislikes"],
                    "ratings_likes": expected["likes"],
                    "ratings_dislikes": expected["dislikes"],
                },
            ),
        ],
    )


def _top(frame: pd.DataFrame) -> str:
    top = frame.sort_values(["likes", "video_id"], ascending=[False, True]).head(10)
    return markdown_table(top)
