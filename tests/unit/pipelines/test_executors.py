"""The media executor a setting chooses, the queue of each media step, and the Celery settings the
executor and the workers share."""

from __future__ import annotations

import pytest
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

from assets.queues import HEAVY, LIGHT, QUEUE_TAG
from pipelines.definitions import defs
from pipelines.executors import CELERY_CONFIG, media_executor, worker_app
from reelflow.settings import Settings

BROKER = "amqp://pool:pool-password@10.0.0.5:5672/media"


def test_media_runs_stay_in_their_own_process_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REELFLOW_MEDIA_EXECUTOR", raising=False)
    assert media_executor(Settings()).name == "in_process"
    assert defs.resolve_job_def("media_lifecycle").executor_def.name == "in_process"


def test_the_queue_tag_is_the_one_dagster_celery_routes_by() -> None:
    assert QUEUE_TAG == DAGSTER_CELERY_QUEUE_TAG


def test_cpu_heavy_media_steps_have_a_queue_of_their_own() -> None:
    job = defs.resolve_job_def("media_lifecycle")
    queues = {node.name: node.tags.get(QUEUE_TAG) for node in job.nodes}
    assert queues == {
        "source_video": LIGHT,
        "renditions": HEAVY,
        "packaged_streams": LIGHT,
        "protected_streams": HEAVY,
        "thumbnails": HEAVY,
        "captions": LIGHT,
        "published_video": LIGHT,
    }


def test_the_celery_executor_reads_the_broker_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REELFLOW_BROKER_URL", BROKER)
    executor = media_executor(Settings(media_executor="celery"))
    assert executor.name == "celery"
    monkeypatch.setenv("REELFLOW_BROKER_URL", BROKER.replace("10.0.0.5", "10.0.0.6"))
    config = executor.config_schema.resolve_config({}).value["config"]
    assert config["broker"] == BROKER.replace("10.0.0.5", "10.0.0.6")
    assert config["backend"] == "rpc://"
    assert config["config_source"] == CELERY_CONFIG


def test_workers_take_a_step_at_a_time_and_give_it_back_when_lost() -> None:
    app = worker_app(Settings(broker_url=BROKER))
    assert app.conf.broker_url == BROKER
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_default_queue == LIGHT
    assert "execute_plan" in app.tasks
