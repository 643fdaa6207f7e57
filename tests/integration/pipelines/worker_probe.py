"""A two-step job on the media executor's worker pool: each step records the process it ran in.

The first step runs on the heavy queue, the second on the light one, and the second reads what
the first returned: step outputs live in S3 (the dev stack's S3Proxy), the run in the instance's
PostgreSQL database, so no step needs a disk shared with another. Every endpoint is read from
the environment of the process that runs the step.
"""

import os

from dagster import EnvVar, OpExecutionContext, job, op
from dagster_aws.s3 import S3PickleIOManager, S3Resource

from assets.queues import HEAVY_STEP, LIGHT_STEP
from pipelines.executors import media_executor
from reelflow.settings import Settings


def record_process(context: OpExecutionContext) -> None:
    context.add_output_metadata(
        {
            "pid": os.getpid(),
            "worker pid": os.getppid(),
            "cwd": os.getcwd(),
            "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", ""),
        }
    )


@op(tags=HEAVY_STEP)
def numbers(context: OpExecutionContext) -> list[int]:
    """Numbers made on a heavy-queue worker."""
    record_process(context)
    return list(range(10))


@op(tags=LIGHT_STEP)
def total(context: OpExecutionContext, numbers: list[int]) -> int:
    """Their sum, on a light-queue worker."""
    record_process(context)
    return sum(numbers)


@job(
    executor_def=media_executor(Settings(media_executor="celery")),
    resource_defs={
        "io_manager": S3PickleIOManager(
            s3_resource=S3Resource(
                endpoint_url=EnvVar("REELFLOW_S3_ENDPOINT_URL"),
                region_name=EnvVar("AWS_DEFAULT_REGION"),
            ),
            s3_bucket=EnvVar("REELFLOW_S3_BUCKET"),
            s3_prefix="steps",
        )
    },
)
def worker_probe() -> None:
    total(numbers())
