"""Where the steps of media runs execute: in the run's own process, or on the worker pool.

`in_process` (the default, and the demo's) runs the steps one after the other in the run worker,
with no process to start per step. `celery` sends each step through RabbitMQ to the queue its
op tag names (`assets/queues.py`), where `reelflow worker` processes on any host take it. The
executor and the workers build their Celery app from the same configuration.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagster import EnvVar, ExecutorDefinition, in_process_executor

from assets.queues import HEAVY, LIGHT
from pipelines.resources import secret
from reelflow.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

# dagster-celery registers its step task again for each step it sends (and each app it makes),
# and Celery warns each time that the task, the same function, is registered already.
warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")

MEDIA_QUEUES = (HEAVY, LIGHT)
RESULT_BACKEND = "rpc://"
CELERY_CONFIG: dict[str, Any] = {
    # A step whose worker is lost (killed, or its host gone) goes back to its queue for another
    # worker: its message is acknowledged only once the step ended, a pool process that dies
    # hands it back, and each process holds one message at a time.
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    # Steps without a queue tag go to a queue that every worker takes by default.
    "task_default_queue": LIGHT,
    # A worker started before the broker waits for it.
    "broker_connection_retry_on_startup": True,
}


def media_executor(settings: Settings) -> ExecutorDefinition:
    """The executor of media runs that `settings.media_executor` names."""
    if settings.media_executor == "in_process":
        # Configured, as the Celery one is: an `execution` entry in a run's config, such as the
        # demo's `in_process` choice for jobs on Dagster's default executor, is then ignored
        # rather than refused.
        return in_process_executor.configured({})
    from dagster_celery import celery_executor

    broker = secret(settings, "broker_url")
    return celery_executor.configured(
        {
            # Read from the run process's environment when the run starts, as the resources'
            # secrets are (pipelines/resources.py).
            "broker": {"env": broker.env_var_name} if isinstance(broker, EnvVar) else broker,
            "backend": RESULT_BACKEND,
            "config_source": CELERY_CONFIG,
        }
    )


def worker_app(settings: Settings) -> Celery:
    """The workers' Celery app: the executor's configuration, with the step task registered."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    executor = CeleryExecutor.for_cli(
        broker=settings.broker_url.get_secret_value(),
        backend=RESULT_BACKEND,
        config_source=CELERY_CONFIG,
    )
    app: Celery = make_app(executor.app_args())
    create_task(app)
    return app


def run_worker(settings: Settings, queues: Sequence[str], concurrency: int) -> None:
    """Take steps from `queues` of the broker, `concurrency` at a time, until stopped."""
    # The code location is loaded here, once: the pool processes forked from this one start
    # with it, so a step pays for no imports.
    import pipelines.definitions  # noqa: F401

    worker_app(settings).worker_main(
        [
            "worker",
            f"--queues={','.join(queues)}",
            f"--concurrency={concurrency}",
            # Unique on the host: the run's event log names the worker that ran each step.
            f"--hostname=reelflow-{os.getpid()}@%h",
            "--loglevel=INFO",
        ]
    )
