"""Recommendations: a model trained on the viewing interactions, checked, then promoted.

Lineage: `user_video_interactions` (daily Parquet) -> `recommendation_model` (an artifact under
`models/recommendations/<version>/` in the object store, evaluation included) ->
`promoted_model` (the pointer the API serves from, `models/recommendations/CURRENT`).

A model reaches viewers only if it beats the stronger of the two charts, all-time popularity
and trending, on NDCG@10 when predicting the last days of viewing by the configured margin: a
blocking check on the model, and the same test again, from the artifact's own evaluation, when
promoting. Otherwise feeds go on with what they serve: the trending chart (and the model
promoted before, if one was).
"""

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.engagement import INTERACTIONS_KEY
from assets.metadata import markdown_table
from assets.resources import CatalogResource, ObjectStoreResource, RecommenderResource
from ml.models import ItemContent
from ml.serving import MODEL_PREFIX
from ml.training import PROMOTION_SPLIT, saved_evaluation, train, verdict
from storage.catalog import Video
from storage.engagement import INTERACTIONS, partition_days, read_partition
from storage.objects import ObjectStore, new_version

GROUP = "recommendations"
MODEL_KEY = AssetKey("recommendation_model")
CHECK = "beats_both_charts"
# Versions kept besides the promoted one: earlier models to roll back to by moving the pointer.
KEPT_VERSIONS = 5


# The interaction columns a model learns from.
READ_COLUMNS = [
    "user_pseudonym",
    "video_id",
    "watched_s",
    "completion",
    "max_progress",
    "last_watched_at",
]


def training_interactions(store: ObjectStore, until: datetime, days: int) -> pd.DataFrame:
    """The interaction rows of the last `days` days up to `until`, as the models read them."""
    first = (until - timedelta(days=days - 1)).date()
    frames = []
    for day in partition_days(store, INTERACTIONS):
        if first <= day <= until.date():
            frame = read_partition(store, INTERACTIONS, day, READ_COLUMNS)
            if frame is not None and len(frame):
                frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["user", "item", "watched_s", "completion", "timestamp"])
    rows = pd.concat(frames, ignore_index=True)
    # Completion is missing when a report carried no duration; how far the viewer got stands in.
    completion = rows["completion"].fillna(rows["max_progress"]).fillna(0.0)
    return pd.DataFrame(
        {
            "user": rows["user_pseudonym"],
            "item": rows["video_id"],
            "watched_s": rows["watched_s"].astype(float),
            "completion": completion.astype(float),
            "timestamp": _epoch_seconds(rows["last_watched_at"]),
        }
    )


def _epoch_seconds(times: pd.Series) -> pd.Series:
    utc = pd.to_datetime(times, utc=True)
    return (utc - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)


def item_content(videos: list[Video]) -> dict[str, ItemContent]:
    return {
        str(video.id): ItemContent(video.title, video.description, tuple(video.tags))
        for video in videos
    }


@asset(
    group_name=GROUP,
    deps=[INTERACTIONS_KEY],
    kinds={"implicit", "lightgbm", "scikitlearn"},
    check_specs=[
        AssetCheckSpec(
            CHECK,
            asset=MODEL_KEY,
            blocking=True,
            description="NDCG@10 beats the stronger of the popularity and trending charts by "
            "the configured margin when predicting the last days of viewing (global temporal "
            "split); otherwise the feed keeps serving the trending chart.",
        )
    ],
)
def recommendation_model(
    context: AssetExecutionContext,
    catalog: CatalogResource,
    object_store: ObjectStoreResource,
    recommender: RecommenderResource,
) -> MaterializeResult:
    """The two-stage recommender (candidates from ALS, EASE, co-occurrence, content and the
    charts, ordered by a LambdaMART ranker) trained on recent interactions, evaluated against
    both charts and stored as a new version in the object store."""
    store = object_store.store()
    rows = training_interactions(store, datetime.now(UTC), recommender.training_days)
    if rows.empty:
        raise Failure(
            f"no viewing interactions in the last {recommender.training_days} days: "
            "materialize user_video_interactions first"
        )
    videos = catalog.catalog.list_published_videos()
    result = train(
        rows,
        item_content(videos),
        k=recommender.k,
        margin=recommender.promotion_margin,
        precision=recommender.eval_precision,
        max_eval_users=recommender.max_eval_users,
    )
    version = new_version()
    with tempfile.TemporaryDirectory(prefix="reelflow-model-") as tmp:
        result.save(Path(tmp))
        store.put_tree(f"{MODEL_PREFIX}/{version}", Path(tmp))
    decision = verdict(
        result.evaluation,
        k=recommender.k,
        margin=recommender.promotion_margin,
        min_test_users=recommender.min_test_users,
    )
    context.log.info(f"model {version}: {decision.reason}")
    k = recommender.k
    return MaterializeResult(
        metadata={
            "version": version,
            "object_prefix": f"{MODEL_PREFIX}/{version}/",
            **result.summary(),
            f"ndcg@{k}": decision.model_ndcg,
            f"{decision.baseline}_ndcg@{k}": decision.baseline_ndcg,
            "stronger_baseline": decision.baseline,
            "serves": decision.serves,
            "ranker_trees": MetadataValue.json(
                [t for _, t in getattr(result.model, "rankers", [])]
            ),
            "evaluation": MetadataValue.md(markdown_table(result.evaluation)),
        },
        check_results=[
            AssetCheckResult(
                check_name=CHECK,
                passed=decision.passed,
                description=decision.reason,
                metadata={
                    "split": PROMOTION_SPLIT,
                    f"ndcg@{k}": decision.model_ndcg,
                    f"{decision.baseline}_ndcg@{k}": decision.baseline_ndcg,
                    "stronger_baseline": decision.baseline,
                    "serves": decision.serves,
                    "lift": decision.lift,
                    "lift_95_interval": MetadataValue.json(list(result.lift.interval)),
                    "margin": recommender.promotion_margin,
                    "test_users": decision.test_users,
                    "needed_users": result.lift.needed,
                },
            )
        ],
    )


@asset(group_name=GROUP, deps=[MODEL_KEY], kinds={"s3"})
def promoted_model(
    context: AssetExecutionContext,
    object_store: ObjectStoreResource,
    recommender: RecommenderResource,
) -> MaterializeResult:
    """Point the API at the latest model: it reloads it within seconds, without a restart."""
    event = context.instance.get_latest_materialization_event(MODEL_KEY)
    materialization = event.asset_materialization if event else None
    if materialization is None or "version" not in materialization.metadata:
        raise Failure("recommendation_model has no materialization to promote")
    version = str(materialization.metadata["version"].value)
    store = object_store.store()
    with tempfile.TemporaryDirectory(prefix="reelflow-model-") as tmp:
        evaluation_key = f"{MODEL_PREFIX}/{version}/evaluation.json"
        store.download(evaluation_key, Path(tmp) / "evaluation.json")
        evaluation = saved_evaluation(Path(tmp))
    decision = verdict(
        evaluation,
        k=recommender.k,
        margin=recommender.promotion_margin,
        min_test_users=recommender.min_test_users,
    )
    if not decision.passed:
        # Reached when promoting by hand a model whose check failed: the bar is the same.
        raise Failure(f"model {version} is not promoted: {decision.reason}")
    previous = store.current_version(MODEL_PREFIX)
    store.point(MODEL_PREFIX, version)
    removed = store.prune(MODEL_PREFIX, keep=KEPT_VERSIONS)
    return MaterializeResult(
        metadata={
            "version": version,
            "previous_version": previous or "",
            "pruned_versions": MetadataValue.json(removed),
            f"ndcg@{recommender.k}": decision.model_ndcg,
        }
    )
