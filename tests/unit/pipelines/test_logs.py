"""The production instance's log handler writes each line of a run as JSON naming the run."""

import json
import logging
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    StaticPartitionsDefinition,
    asset,
    materialize,
)

from reelflow.settings import PROJECT_ROOT

VIDEO = "0b6f4f8e-4c1e-4f5e-9a57-3f1f2b3c4d5e"
SIGNED = "https://cdn.example/uploads/x?expires=1&signature=0123456789abcdef"


@asset(partitions_def=StaticPartitionsDefinition([VIDEO]))
def logged_asset(context: AssetExecutionContext) -> None:
    context.log.info(f"fetched {SIGNED}")
    # A library's own logger (storage, media …) is captured into the run as well.
    logging.getLogger("storage.example").warning("retrying a read")


def test_each_line_of_a_run_is_json_naming_its_run_step_and_partition(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    production = yaml.safe_load((PROJECT_ROOT / "deploy" / "dagster.yaml").read_text())
    instance_config = {
        "python_logs": production["python_logs"],
        # Dagster's own console lines, unscrubbed, stay on this test's stderr instead of files
        # that the end-of-run search for secrets reads.
        "compute_logs": {
            "module": "dagster._core.storage.noop_compute_log_manager",
            "class": "NoOpComputeLogManager",
        },
    }
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        result = materialize([logged_asset], instance=instance, partition_key=VIDEO)
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    of_run = [line for line in lines if line.get("run_id") == result.run_id]
    fetched = next(line for line in of_run if line["message"].startswith("fetched"))
    assert fetched["step_key"] == "logged_asset"
    assert fetched["partition"] == VIDEO
    assert fetched["job"] == "__ephemeral_asset_job__"
    assert fetched["level"] == "INFO"
    # The message is the step's own text, its signature scrubbed.
    assert (
        fetched["message"] == "fetched https://cdn.example/uploads/x?expires=1&signature=[redacted]"
    )
    assert any(
        line["message"] == "retrying a read" and line["level"] == "WARNING" for line in of_run
    )
    assert {"STEP_START", "STEP_SUCCESS"} <= {line.get("event") for line in of_run}
