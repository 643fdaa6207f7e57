"""Where the steps of media runs execute: in the run's own process, or on the worker pool.

`in_process` (the default, and the demo's) runs the steps one after the other in the run worker,
with no process to start per step. `celery` sends each step through RabbitMQ to the queue its
op tag names (`assets/queues.py`), where `reelflow worker` processes on any host take it. The
executor and the workers build their Celery app from the same configuration.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagster import DagsterInstance, EnvVar, ExecutorDefinition, in_process_executor

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
    create_task(app, base=_step_task_class())
    return app


def step_of_ended_run(execute_step_args_packed: dict[str, Any]) -> bool:
    """Whether a step task belongs to a run that has ended or is being canceled; if so, the
    run's event log says that the step is skipped.

    The broker hands a step that was never acknowledged to a worker again, even when the run
    that asked for it is gone (a broker restart fails the run, and its retry runs the step anew).
    Run then, the step would rewrite the objects that the retry reads, or publish twice.
    """
    from dagster import DagsterRunStatus
    from dagster._grpc.types import ExecuteStepArgs
    from dagster._serdes import serialize_value, unpack_value

    args = unpack_value(execute_step_args_packed, as_type=ExecuteStepArgs)
    instance = _instance(serialize_value(args.instance_ref))
    run = instance.get_run_by_id(args.run_id)
    if run is None or not (run.is_finished or run.status == DagsterRunStatus.CANCELING):
        return False
    for step in args.step_keys_to_execute or []:
        instance.report_engine_event(
            f"Skipping step {step}: the run is {run.status.value}", run, step_key=step
        )
    return True


@functools.cache
def _instance(ref: str) -> DagsterInstance:
    """The instance a serialized reference names, opened once per process (opening one costs
    more than the run lookup it serves)."""
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes import deserialize_value

    return DagsterInstance.from_ref(deserialize_value(ref, InstanceRef))


def _step_task_class() -> type:
    """dagster-celery's step task, made to skip the steps of runs that ended."""
    from celery import Task

    class StepTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            if step_of_ended_run(kwargs["execute_step_args_packed"]):
                return []
            return super().__call__(*args, **kwargs)

    return StepTask


def run_worker(settings: Settings, queues: Sequence[str], concurrency: int) -> None:
    """Take steps from `queues` of the broker, `concurrency` at a time, until stopped."""
    # The code location is loaded here, once: the pool processes forked from this one start
    # with it, so a step pays for no imports. Celery's prefork pool has the kernel kill each of
    # them when this process dies (PR_SET_PDEATHSIG): the broker then hands their steps to
    # other workers, and no orphaned pool process finishes one a second time.
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
