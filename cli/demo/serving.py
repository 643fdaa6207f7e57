"""Serving: the Dagster webserver and daemon and the API with the player, until Ctrl-C.

Each server runs in its own session under the process supervisor (devstack/processes.py): Ctrl-C
in the terminal reaches the demo only, which then stops each server with its process group.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

from api.media_runs import HandOffError, graphql
from devstack.network import http_ok, port_open
from devstack.processes import Server
from reelflow.settings import PROJECT_ROOT

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0

LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
DAEMONS_QUERY = (
    "{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }"
)


class DagsterWebserver:
    """Whether a Dagster webserver has loaded its code locations and sees its daemons healthy.

    dagster_graphql's client covers runs and reloading a code location, not these two
    questions: they are asked with the raw GraphQL queries above.
    """

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, text: str) -> dict[str, Any]:
        """The `data` of a GraphQL query; HandOffError when it answers errors."""
        return graphql(self.url, text, timeout_s=30)

    def location_loaded(self) -> bool:
        """True once every code location is loaded; RuntimeError when one failed to load."""
        try:
            workspace = self.query(LOCATIONS_QUERY)["workspaceOrError"]
        except (OSError, HandOffError):
            return False
        entries = workspace.get("locationEntries") or []
        for entry in entries:
            error = entry.get("locationOrLoadError") or {}
            if error.get("__typename") == "PythonError":
                raise RuntimeError(
                    f"code location {entry['name']} failed to load: {error['message']}"
                )
        return bool(entries) and all(entry["loadStatus"] == "LOADED" for entry in entries)

    def daemons_healthy(self) -> bool:
        """True once every required daemon reports healthy."""
        try:
            statuses = self.query(DAEMONS_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
        except (OSError, HandOffError):
            return False
        return all(status["healthy"] for status in statuses if status["required"])


def serve(
    *, host: str, dagster_port: int, api_port: int, log_dir: Path, env: dict[str, str]
) -> list[Server]:
    """Start the Dagster webserver and daemon and the API; return once each one answers.

    Stops whatever it started when one of them fails to come up.
    """
    for port in (dagster_port, api_port):
        if port_open(port, host):
            raise RuntimeError(f"{host}:{port} is in use; stop what listens there or pick a port")
    # Dagster creates its SQLite storage on first use: servers starting side by side on a new
    # DAGSTER_HOME race to stamp its schema, so it is created here first.
    with DagsterInstance.from_config(env["DAGSTER_HOME"]):
        pass
    bin_dir = Path(sys.executable).parent
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    dagster_url = f"http://{host}:{dagster_port}"
    api_url = f"http://{host}:{api_port}"
    # The API hands completed uploads to this webserver at once (api/media_runs.py).
    env = env | {"REELFLOW_DAGSTER_URL": dagster_url}
    commands = {
        "dagster-webserver": (
            [str(bin_dir / "dagster-webserver"), "-h", host, "-p", str(dagster_port)]
            + ["-w", workspace],
            dagster_url,
        ),
        "dagster-daemon": ([str(bin_dir / "dagster-daemon"), "run", "-w", workspace], dagster_url),
        "api": (
            [str(bin_dir / "reelflow"), "api", "--host", host, "--port", str(api_port)],
            api_url,
        ),
    }
    children: list[Server] = []
    try:
        for name, (command, url) in commands.items():
            log = log_dir / f"{name}.log"
            children.append(
                Server.start(name, command, log=log, cwd=PROJECT_ROOT, env=env, endpoint=url)
            )
        webserver, daemon, api = children
        dagster = DagsterWebserver(dagster_url)
        webserver.wait_ready(dagster.location_loaded, START_TIMEOUT_S)
        daemon.wait_ready(dagster.daemons_healthy, START_TIMEOUT_S)
        api.wait_ready(lambda: http_ok(f"{api_url}/healthz"), START_TIMEOUT_S)
    except BaseException:
        stop(children)
        raise
    return children


def stop(children: Sequence[Server]) -> None:
    """Stop the servers side by side, each with its process group; return once all are gone."""
    if not children:
        return
    with ThreadPoolExecutor(max_workers=len(children)) as pool:
        list(pool.map(lambda child: child.stop(STOP_TIMEOUT_S), children))


def wait_until_interrupted(children: Sequence[Server]) -> None:
    """Block until SIGINT or SIGTERM; raise RuntimeError when a server exits by itself."""
    while True:
        for child in children:
            if not child.running():
                raise RuntimeError(
                    f"{child.name} exited with status {child.exit_status()}.\n{child.log_tail()}"
                )
        time.sleep(1)


def child_environment() -> dict[str, str]:
    """The environment of the servers: this one, plus what Spark needs, as `make` sets it."""
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return env
