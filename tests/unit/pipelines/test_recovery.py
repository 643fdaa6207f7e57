"""What a creator reads when a media run fails, taken from the events of real runs: the failed
blocking checks (steps of their own or inside their asset's step), else the failed step and its
error, else that the run was lost; and whether Dagster will retry a failed run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterInstance,
    DagsterRunStatus,
    Definitions,
    ExecuteInProcessResult,
    Failure,
    MaterializeResult,
    asset,
    asset_check,
    define_asset_job,
    instance_for_test,
)

from pipelines.recovery import LOST_REASON, WILL_RETRY_TAG, failure_reason, will_retry


@asset(check_specs=[AssetCheckSpec("renditions_quality", asset="renditions", blocking=True)])
def renditions() -> MaterializeResult:
    """Checked inside its own step."""
    return MaterializeResult(
        check_results=[AssetCheckResult(passed=False, description="240p: SSIM 0.80 < 0.90")]
    )


@asset
def packaged_streams() -> int:
    return 1


@asset_check(asset=packaged_streams, blocking=True)
def packaged_manifests_resolve() -> AssetCheckResult:
    """Checked in a step of its own."""
    return AssetCheckResult(passed=False, description="master.m3u8 names 360p.m3u8, missing")


@asset(check_specs=[AssetCheckSpec("thumbnails_bright", asset="thumbnails")])
def thumbnails() -> MaterializeResult:
    """A failed check that warns without blocking."""
    return MaterializeResult(
        check_results=[
            AssetCheckResult(
                passed=False, severity=AssetCheckSeverity.WARN, description="a dark poster"
            )
        ]
    )


@asset(deps=[thumbnails])
def encoded() -> None:
    raise RuntimeError("ffmpeg exited with status 1\nlast lines of its log")


@asset
def source_video() -> None:
    raise Failure(description="no video stream in the upload")


DEFS = Definitions(
    assets=[renditions, packaged_streams, thumbnails, encoded, source_video],
    asset_checks=[packaged_manifests_resolve],
    jobs=[
        define_asset_job("checked_inside", [renditions]),
        define_asset_job("checked_apart", [packaged_streams]),
        define_asset_job("step_error", [thumbnails, encoded]),
        define_asset_job("step_failure", [source_video]),
    ],
)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        yield instance


def failed_run(instance: DagsterInstance, job: str) -> ExecuteInProcessResult:
    result = DEFS.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return result


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        ("checked_inside", "renditions_quality: 240p: SSIM 0.80 < 0.90"),
        ("checked_apart", "packaged_manifests_resolve: master.m3u8 names 360p.m3u8, missing"),
        # A failed check that only warns is no reason; the error is, without its class name.
        ("step_error", "step encoded failed: ffmpeg exited with status 1"),
        ("step_failure", "step source_video failed: no video stream in the upload"),
    ],
)
def test_the_reason_names_what_failed(instance: DagsterInstance, job: str, reason: str) -> None:
    result = failed_run(instance, job)

    assert failure_reason(instance, result.run_id, result.get_run_failure_event()) == reason


def test_a_run_failed_from_outside_was_lost(instance: DagsterInstance) -> None:
    job = DEFS.resolve_job_def("step_failure")
    run = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED)

    # What run monitoring reports when a run's worker is gone.
    failure = instance.report_run_failed(run, "Detected run worker status FAILED.\nmore detail")

    assert failure_reason(instance, run.run_id, failure) == (
        f"{LOST_REASON}: Detected run worker status FAILED."
    )


def test_will_retry_decides_as_the_instance_does() -> None:
    retries = {"run_retries": {"enabled": True, "max_retries": 1}}
    with instance_for_test(overrides=retries) as instance:
        job = DEFS.resolve_job_def("step_failure")
        run = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED)
        instance.report_run_failed(run)
        tagged = instance.get_run_by_id(run.run_id)
        assert tagged is not None and tagged.tags[WILL_RETRY_TAG] == "true"

        # A sensor can see the failure before the instance tags the run.
        untagged = run.with_status(DagsterRunStatus.FAILURE)
        assert WILL_RETRY_TAG not in untagged.tags
        assert will_retry(instance, tagged) and will_retry(instance, untagged)

        # The group of runs Dagster's re-execution makes: the retry names its root and parent.
        group = {"dagster/root_run_id": run.run_id, "dagster/parent_run_id": run.run_id}
        retry = instance.create_run_for_job(
            job,
            status=DagsterRunStatus.STARTED,
            tags=group,
            root_run_id=run.run_id,
            parent_run_id=run.run_id,
        )
        instance.report_run_failed(retry)
        exhausted = instance.get_run_by_id(retry.run_id)
        assert exhausted is not None and not will_retry(instance, exhausted)
        assert not will_retry(instance, retry.with_status(DagsterRunStatus.FAILURE))

    with instance_for_test() as without_retries:
        run = without_retries.create_run_for_job(job, status=DagsterRunStatus.FAILURE)
        assert not will_retry(without_retries, run)
