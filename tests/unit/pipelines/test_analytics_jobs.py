"""The jobs of the viewing-history and recommendation stages select their stage's assets."""

from __future__ import annotations

from pipelines.definitions import defs


def job_assets(name: str) -> set[str]:
    job_def = defs.resolve_job_def(name)
    return {key.to_user_string() for key in job_def.asset_layer.executable_asset_keys}


def test_the_training_job_runs_the_model_and_its_promotion() -> None:
    assert job_assets("train_recommendations") == {"recommendation_model", "promoted_model"}


def test_a_day_of_aggregates_materializes_what_dagster_computes_from_the_raw_events() -> None:
    # The raw events are the API's: a run over a day never claims to have written them.
    assert job_assets("engagement_daily") == {
        "user_video_interactions",
        "daily_video_engagement",
        "trending_videos",
        "daily_video_community",
        "daily_playback_quality",
        "daily_playback_quality_overall",
    }
