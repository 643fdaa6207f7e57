"""What starts a model training: a weekly schedule, each successful day of aggregates, and the
last rebuilt day of an erasure."""

from __future__ import annotations

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    ExecuteInProcessResult,
    JobDefinition,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    job,
    op,
)

from pipelines.definitions import defs
from pipelines.schedules import recommendations_schedule
from pipelines.sensors import ERASURE_TAG, retrain_after_engagement


@op
def aggregate() -> None: ...


@job(name="engagement_daily")
def finished_day() -> None:
    aggregate()


def after(instance: DagsterInstance, result: ExecuteInProcessResult) -> RunRequest | SkipReason:
    """What the sensor answers to the success of `result`'s run."""
    context = build_run_status_sensor_context(
        sensor_name="retrain_after_engagement",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_success_event(),
    )
    answer = retrain_after_engagement(context)
    assert isinstance(answer, RunRequest | SkipReason)
    return answer


def test_the_training_job_runs_the_model_and_its_promotion() -> None:
    job_def = defs.resolve_job_def("train_recommendations")
    keys = {key.to_user_string() for key in job_def.asset_layer.executable_asset_keys}
    assert keys == {"recommendation_model", "promoted_model"}


def test_a_model_is_trained_every_week_whatever_happened_that_week() -> None:
    assert recommendations_schedule.job_name == "train_recommendations"
    assert recommendations_schedule.cron_schedule == "0 3 * * 1"
    assert recommendations_schedule.execution_timezone == "UTC"


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


def run(
    job_def: JobDefinition, instance: DagsterInstance, tags: dict[str, str]
) -> ExecuteInProcessResult:
    result = job_def.execute_in_process(instance=instance, tags=tags)
    assert result.success
    return result
