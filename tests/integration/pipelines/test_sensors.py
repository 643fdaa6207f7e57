"""The sensors: completed uploads become video partitions and media runs; an account's erasure
re-runs the days it was aggregated on; a finished day of aggregates retrains the model (once
per erasure, however many days it re-runs)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import UUID

import psycopg
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    DagsterRunStatus,
    ExecuteInProcessResult,
    JobDefinition,
    RunRequest,
    SensorResult,
    SkipReason,
    build_run_status_sensor_context,
    build_sensor_context,
    job,
    op,
)

from assets.engagement import INTERACTIONS_KEY
from assets.ingest import VIDEO_PARTITIONS
from assets.resources import CatalogResource
from pipelines.definitions import defs
from pipelines.jobs import media_lifecycle
from pipelines.sensors import ERASURE_TAG, erasure_sensor, retrain_after_engagement
from reelflow.media_runs import run_tags
from storage.catalog import Catalog, EncodingStatus, Visibility
from tests.fixtures.lifecycle import Platform

SOURCE = b"the bytes of a source; the sensor never reads them"


def completed_upload(platform: Platform, tmp_path: Path, *, stored: bool = True) -> UUID:
    """A video whose upload completed, its object in the store unless `stored` is false."""
    source = tmp_path / "source.mp4"
    source.write_bytes(SOURCE)
    video_id = platform.upload(source, Visibility.PUBLIC)
    if not stored:
        platform.store.delete(platform.catalog.latest_completed_upload(video_id).object_key)
    return video_id


def requested(result: SensorResult | SkipReason) -> dict[str, str | None]:
    """The run key of each requested partition."""
    assert isinstance(result, SensorResult)
    return {str(r.partition_key): r.run_key for r in result.run_requests or []}


def test_completed_uploads_become_partitions_and_runs(platform: Platform, tmp_path: Path) -> None:
    first, second = (completed_upload(platform, tmp_path) for _ in range(2))
    uploads = {
        video_id: platform.catalog.latest_completed_upload(video_id).id
        for video_id in (first, second)
    }

    sensed = platform.sense()

    assert requested(sensed) == {
        str(video_id): f"{video_id}:{upload_id}" for video_id, upload_id in uploads.items()
    }
    assert isinstance(sensed, SensorResult)
    [added] = sensed.dynamic_partitions_requests or []
    assert added.partitions_def_name == VIDEO_PARTITIONS
    assert list(added.partition_keys or []) == sorted(str(v) for v in (first, second))
    assert sorted(platform.instance.get_dynamic_partitions(VIDEO_PARTITIONS)) == sorted(
        str(v) for v in (first, second)
    )


def test_a_second_tick_asks_for_nothing_new(platform: Platform, tmp_path: Path) -> None:
    video_id = completed_upload(platform, tmp_path)
    before = requested(platform.sense())

    again = platform.sense()

    # The same run keys, which the daemon does not launch twice, and no partition to add.
    assert requested(again) == before
    assert isinstance(again, SensorResult) and not again.dynamic_partitions_requests
    # Once ingest has started, the upload no longer awaits it.
    platform.catalog.set_encoding_status(video_id, EncodingStatus.PROCESSING)
    assert isinstance(platform.sense(), SkipReason)


def test_an_upload_whose_object_is_missing_waits_for_it(platform: Platform, tmp_path: Path) -> None:
    stored = completed_upload(platform, tmp_path)
    missing = completed_upload(platform, tmp_path, stored=False)

    assert set(requested(platform.sense())) == {str(stored)}
    assert str(missing) not in platform.instance.get_dynamic_partitions(VIDEO_PARTITIONS)

    upload = platform.catalog.latest_completed_upload(missing)
    platform.store.put_bytes(upload.object_key, SOURCE)
    arrived = platform.sense()
    assert requested(arrived)[str(missing)] == f"{missing}:{upload.id}"
    assert isinstance(arrived, SensorResult)
    [added] = arrived.dynamic_partitions_requests or []
    assert list(added.partition_keys or []) == [str(missing)]


def test_runs_name_their_upload_and_an_upload_with_a_run_is_not_asked_for(
    platform: Platform, tmp_path: Path
) -> None:
    handed_over = completed_upload(platform, tmp_path)
    waiting = completed_upload(platform, tmp_path)
    upload = platform.catalog.latest_completed_upload(handed_over)
    # The run the API asked the webserver for the moment the upload completed, not started.
    media_job = defs.resolve_job_def(media_lifecycle.name)
    platform.instance.create_run_for_job(
        media_job,
        status=DagsterRunStatus.NOT_STARTED,
        tags=run_tags(handed_over, upload.id),
    )

    sensed = platform.sense()

    assert set(requested(sensed)) == {str(waiting)}
    assert isinstance(sensed, SensorResult)
    [request] = sensed.run_requests or []
    waiting_upload = platform.catalog.latest_completed_upload(waiting).id
    assert request.tags == run_tags(waiting, waiting_upload)


def test_nothing_to_ingest_is_a_skip(platform: Platform) -> None:
    skipped = platform.sense()
    assert isinstance(skipped, SkipReason)
    assert skipped.skip_message == "no completed upload awaits a run"


def evaluate_erasures(
    instance: DagsterInstance, dsn: str, cursor: str | None
) -> SensorResult | SkipReason:
    resources = {"catalog": CatalogResource(dsn=dsn)}
    with build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        return erasure_sensor(context)


def test_each_erasure_reruns_the_days_already_aggregated(
    catalog: Catalog, catalog_dsn: str
) -> None:
    instance = DagsterInstance.ephemeral()
    for day in ("2026-01-01", "2026-01-02"):
        instance.report_runless_asset_event(AssetMaterialization(INTERACTIONS_KEY, partition=day))
    assert isinstance(evaluate_erasures(instance, catalog_dsn, None), SkipReason)

    erased = catalog.create_user("erin@example.com", "x")
    catalog.erase_user(erased.id, analytics_days=[date(2026, 1, 3), date(2026, 1, 1)])
    # Events that landed between the two history passes of the same erasure.
    catalog.request_analytics_erasure([date(2026, 1, 2), date(2026, 1, 1)])
    catalog.request_analytics_erasure([])
    requests = catalog.list_analytics_erasures(after_id=0)
    assert [r.days for r in requests] == [
        [date(2026, 1, 1), date(2026, 1, 3)],
        [date(2026, 1, 1), date(2026, 1, 2)],
    ]
    newest = requests[-1].id

    result = evaluate_erasures(instance, catalog_dsn, None)

    assert isinstance(result, SensorResult)
    # 2026-01-03 was never aggregated: its first run reads the events as they are now.
    assert [(r.partition_key, r.run_key, r.tags) for r in result.run_requests or []] == [
        (day, f"erasure:{newest}:{day}", {ERASURE_TAG: str(newest)})
        for day in ("2026-01-01", "2026-01-02")
    ]
    assert result.cursor == str(newest)
    assert isinstance(evaluate_erasures(instance, catalog_dsn, result.cursor), SkipReason)
    # The queue names days, never the person.
    with psycopg.connect(catalog_dsn) as conn:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'analytics_erasures' ORDER BY ordinal_position"
        ).fetchall()
    assert [c for (c,) in columns] == ["id", "days", "requested_at"]


@op
def aggregate() -> None: ...


@job(name="engagement_daily")
def finished_day() -> None:
    aggregate()


def after(instance: DagsterInstance, result: ExecuteInProcessResult) -> RunRequest | SkipReason:
    """What the retraining sensor answers to the success of `result`'s run."""
    context = build_run_status_sensor_context(
        sensor_name="retrain_after_engagement",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_success_event(),
    )
    answer = retrain_after_engagement(context)
    assert isinstance(answer, RunRequest | SkipReason)
    return answer


def run(
    job_def: JobDefinition, instance: DagsterInstance, tags: dict[str, str]
) -> ExecuteInProcessResult:
    result = job_def.execute_in_process(instance=instance, tags=tags)
    assert result.success
    return result


def test_each_successful_engagement_run_asks_for_one_training() -> None:
    sensor = defs.resolve_sensor_def("retrain_after_engagement")
    assert sensor.job_name == "train_recommendations"

    instance = DagsterInstance.ephemeral()
    result = finished_day.execute_in_process(instance=instance)
    request = after(instance, result)
    assert isinstance(request, RunRequest)
    # Keyed by the finished run: evaluating the same success twice asks for nothing new.
    assert request.run_key == result.run_id


def test_an_erasure_trains_once_after_its_last_day_is_rebuilt() -> None:
    instance = DagsterInstance.ephemeral()
    erasure = {ERASURE_TAG: "7"}
    waiting_day = instance.create_run_for_job(
        finished_day, tags=erasure, status=DagsterRunStatus.NOT_STARTED
    )
    other_day = run(finished_day, instance, erasure)

    waiting = after(instance, other_day)
    assert isinstance(waiting, SkipReason)
    assert waiting.skip_message == "erasure 7: 1 more day(s) being rebuilt"

    # The waiting day fails; its retry is the erasure's last run.
    instance.report_run_failed(waiting_day)
    retry = run(finished_day, instance, erasure)
    last = after(instance, retry)
    assert isinstance(last, RunRequest) and last.run_key == "erasure:7"

    # Ordinary days still train once each, whatever erasure runs are about.
    instance.create_run_for_job(
        finished_day, tags={ERASURE_TAG: "8"}, status=DagsterRunStatus.NOT_STARTED
    )
    ordinary = run(finished_day, instance, {})
    assert after(instance, ordinary) == RunRequest(run_key=ordinary.run_id)
