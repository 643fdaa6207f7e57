"""What starts a model training: a weekly schedule, and each successful day of aggregates."""

from __future__ import annotations

from dagster import DagsterInstance, RunRequest, build_run_status_sensor_context, job, op

from pipelines.definitions import defs
from pipelines.schedules import recommendations_schedule
from pipelines.sensors import retrain_after_engagement


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

    @op
    def aggregate() -> None: ...

    @job(name="engagement_daily")
    def finished_day() -> None:
        aggregate()

    instance = DagsterInstance.ephemeral()
    result = finished_day.execute_in_process(instance=instance)
    context = build_run_status_sensor_context(
        sensor_name="retrain_after_engagement",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_success_event(),
    )
    request = retrain_after_engagement(context)
    assert isinstance(request, RunRequest)
    # Keyed by the finished run: evaluating the same success twice asks for nothing new.
    assert request.run_key == result.run_id
