"""The production Dagster instance (deploy/dagster.yaml) and workspace (deploy/workspace.yaml), as
Dagster itself loads them.

The instance opens on the dev stack's PostgreSQL (a new database) and S3Proxy (a new bucket), with
the variables the file names set as the cluster's ConfigMap and Secret set them. The Kubernetes
run launcher reads a pod's service account; a test process has none, so the in-cluster loader
reads one written in the test's directory, naming an API server on a closed port (nothing here
asks it anything).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._core.workspace.load import location_origins_from_yaml_paths
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_k8s.launcher import K8sRunLauncher
from dagster_postgres import (
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from kubernetes.client import Configuration
from kubernetes.config import incluster_config

from devstack.pool import bucket, database, database_dsn
from reelflow.settings import DAGSTER_POSTGRES_SCHEME, PROJECT_ROOT, Settings
from storage.objects import S3ObjectStore

INSTANCE = PROJECT_ROOT / "deploy" / "dagster.yaml"
WORKSPACE = PROJECT_ROOT / "deploy" / "workspace.yaml"
LOCAL_WORKSPACE = PROJECT_ROOT / "workspace.yaml"
# Variables the file may name besides the project's settings: the standard ones of boto3 and of
# Dagster's container images.
DOCUMENTED_VARIABLES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "DAGSTER_HOME",
    "DAGSTER_CURRENT_IMAGE",
}


@pytest.fixture
def instance_bucket(dev_stack: Settings) -> Iterator[S3ObjectStore]:
    with bucket(dev_stack) as store:
        yield store


@pytest.fixture
def cluster_environment(
    dev_stack: Settings,
    instance_bucket: S3ObjectStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """The environment of a Dagster pod of the cluster, on the dev stack; its DAGSTER_HOME, holding
    deploy/dagster.yaml unchanged."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("token-of-no-cluster")
    # Only its presence is checked: nothing connects to the API server.
    (account / "ca.crt").write_text("certificate of no cluster\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(account / "ca.crt"))
    # The loader installs the client's default configuration; this test's is dropped afterwards.
    monkeypatch.setattr(Configuration, "_default", None)
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copy(INSTANCE, home / "dagster.yaml")
    with database(dev_stack.postgres_dsn) as name:
        dsn = database_dsn(dev_stack.postgres_dsn, name)
        environment = {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": "1",
            "DAGSTER_HOME": str(home),
            "REELFLOW_DAGSTER_POSTGRES_URL": dsn.replace(
                "postgresql://", DAGSTER_POSTGRES_SCHEME, 1
            ),
            "REELFLOW_S3_BUCKET": instance_bucket.bucket,
            "REELFLOW_S3_ENDPOINT_URL": str(dev_stack.s3_endpoint_url),
            "REELFLOW_S3_REGION": dev_stack.s3_region,
            "AWS_ACCESS_KEY_ID": dev_stack.s3_access_key_id,
            "AWS_SECRET_ACCESS_KEY": dev_stack.s3_secret_access_key.get_secret_value(),
            "AWS_DEFAULT_REGION": dev_stack.s3_region,
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield home


@pytest.fixture
def instance(cluster_environment: Path) -> Iterator[DagsterInstance]:
    with DagsterInstance.from_config(str(cluster_environment)) as instance:
        yield instance


def test_runs_are_kubernetes_jobs_in_the_reelflow_namespace(instance: DagsterInstance) -> None:
    launcher = instance.run_launcher

    assert isinstance(launcher, K8sRunLauncher)
    assert launcher.job_namespace == "reelflow"
    assert launcher.instance_config_map == "dagster-instance"
    assert launcher.env_config_maps == ["reelflow-config"]
    assert launcher.env_secrets == ["reelflow-secrets"]
    assert launcher.job_image == "ghcr.io/reelflow/reelflow:dagster"
    assert launcher.service_account_name
    # Run monitoring asks the launcher whether a run's Job still runs.
    assert launcher.supports_check_run_worker_health
    assert instance.run_monitoring_enabled


def test_runs_events_and_ticks_live_in_postgresql(instance: DagsterInstance) -> None:
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    # The storage opened the new database and created Dagster's tables in it.
    assert instance.get_runs() == []


def test_compute_logs_go_to_the_projects_bucket(
    instance: DagsterInstance, instance_bucket: S3ObjectStore
) -> None:
    manager = instance.compute_log_manager
    assert isinstance(manager, S3ComputeLogManager)
    log_key = ["run-of-the-test", "compute_logs", f"step-{uuid.uuid4().hex}"]

    with manager.open_log_stream(log_key, ComputeIOType.STDOUT) as stream:
        assert stream is not None
        stream.write("encoded 5 rungs\n")

    # Written through the S3 settings the file names, read back from the bucket. An empty
    # stderr is stored too: the UI takes it as the sign that the capture is complete.
    folder = "dagster/compute-logs/storage/" + "/".join(log_key)
    assert instance_bucket.list("dagster/compute-logs/") == [f"{folder}.err", f"{folder}.out"]
    assert manager.is_capture_complete(log_key)
    assert manager.get_log_data(log_key).stdout == b"encoded 5 rungs\n"


def test_only_runs_lost_by_their_worker_are_retried(instance: DagsterInstance) -> None:
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries == 2
    assert not instance.run_retries_retry_on_asset_or_op_failure
    assert not instance.telemetry_enabled


def test_the_run_queue_keeps_the_video_and_stage_limits(instance: DagsterInstance) -> None:
    coordinator = instance.run_coordinator
    assert isinstance(coordinator, QueuedRunCoordinator)
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    limits = queue.tag_concurrency_limits
    assert {"key": "reelflow/video", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in (
        limits
    )
    assert any(limit["key"] == "reelflow/stage" for limit in limits)


def test_the_workspace_reaches_the_code_server_under_the_local_location_name() -> None:
    [origin] = location_origins_from_yaml_paths([str(WORKSPACE)])
    [local] = location_origins_from_yaml_paths([str(LOCAL_WORKSPACE)])

    assert isinstance(origin, GrpcServerCodeLocationOrigin)
    assert (origin.host, origin.port) == ("reelflow-code", 4000)
    assert origin.location_name == local.location_name


def test_every_variable_the_instance_names_is_a_setting_or_a_documented_one() -> None:
    named = set(_env_names(yaml.safe_load(INSTANCE.read_text())))
    settings = {f"REELFLOW_{name.upper()}" for name in Settings.model_fields}

    assert named, "the instance names no variable"
    assert named - settings - DOCUMENTED_VARIABLES == set()


def _env_names(node: Any) -> Iterator[str]:
    """The variables of every `{env: NAME}` value in a parsed YAML document."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            yield node["env"]
            return
        for value in node.values():
            yield from _env_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _env_names(item)
