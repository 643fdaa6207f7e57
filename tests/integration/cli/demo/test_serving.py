"""The demo's servers on a test catalog and Dagster instance: they answer, then stop entirely."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient, ReloadRepositoryLocationStatus
from portpicker import pick_unused_port

from cli.demo.serving import serve, stop
from devstack.network import port_open
from devstack.processes import group_members
from reelflow.settings import PROJECT_ROOT, Settings

# The code location of workspace.yaml.
LOCATION = "reelflow"


# dagster_graphql's client calls gql in a way gql deprecates.
@pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning")
def test_serve_answers_then_stops_every_process(
    dev_stack: Settings, catalog_dsn: str, tmp_path: Path
) -> None:
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    env = os.environ | {
        "DAGSTER_HOME": str(home),
        "REELFLOW_POSTGRES_DSN": catalog_dsn,
        "REELFLOW_OBJECT_STORE": "local",
        "REELFLOW_OBJECT_STORE_DIR": str(tmp_path / "objects"),
        "PYSPARK_PYTHON": sys.executable,
    }
    dagster_port, api_port = pick_unused_port(), pick_unused_port()
    children = serve(
        host="127.0.0.1",
        dagster_port=dagster_port,
        api_port=api_port,
        log_dir=tmp_path / "logs",
        env=env,
    )
    try:
        assert [child.name for child in children] == ["dagster-webserver", "dagster-daemon", "api"]
        client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_port)
        reloaded = client.reload_repository_location(LOCATION)
        assert reloaded.status == ReloadRepositoryLocationStatus.SUCCESS, reloaded.message
        with pytest.raises(RuntimeError, match="in use"):
            serve(
                host="127.0.0.1",
                dagster_port=dagster_port,
                api_port=pick_unused_port(),
                log_dir=tmp_path / "logs",
                env=env,
            )
    finally:
        stop(children)
    assert not any(child.running() for child in children)
    assert not port_open(dagster_port) and not port_open(api_port)
    # Nothing of their process groups is left: the code servers included.
    assert [group_members(child.pid) for child in children] == [[], [], []]
    # Stopping twice is harmless (the demo's clean-up may run after a failed start).
    stop(children)
