"""The Reelflow code location: every asset, with the resources of the configured deployment."""

from datetime import timedelta

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from assets import (
    captions,
    community,
    drm,
    engagement,
    ingest,
    package,
    playback,
    publish,
    recommendations,
    thumbnails,
    transcode,
)
from pipelines.alerts import (
    FRESHNESS_CHECKS,
    freshness_sensor,
    run_failure_alert,
    stuck_video_alert,
)
from pipelines.analytics_jobs import engagement_daily, train_recommendations
from pipelines.jobs import caption_update, media_lifecycle
from pipelines.maintenance import clean_up_uploads, uploads_schedule
from pipelines.recovery import media_cancel_sensor, media_failure_sensor, stalled_video_sensor
from pipelines.resources import resources_for
from pipelines.schedules import engagement_schedule, recommendations_schedule
from pipelines.sensors import (
    erasure_sensor,
    protection_sensor,
    retrain_after_engagement,
    upload_sensor,
)
from reelflow.settings import Settings

STAGES = [
    ingest,
    transcode,
    package,
    drm,
    thumbnails,
    captions,
    publish,
    engagement,
    community,
    playback,
    recommendations,
]


def build_definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=load_assets_from_modules(STAGES),
        asset_checks=[*load_asset_checks_from_modules(STAGES), *FRESHNESS_CHECKS],
        jobs=[
            media_lifecycle,
            caption_update,
            engagement_daily,
            train_recommendations,
            clean_up_uploads,
        ],
        schedules=[engagement_schedule, recommendations_schedule, uploads_schedule],
        sensors=[
            upload_sensor,
            protection_sensor,
            erasure_sensor,
            retrain_after_engagement,
            media_failure_sensor,
            media_cancel_sensor,
            stalled_video_sensor(timedelta(seconds=settings.stalled_after_s)),
            run_failure_alert(settings),
            stuck_video_alert(settings),
            freshness_sensor,
        ],
        resources=resources_for(settings),
    )


defs = build_definitions(Settings())
