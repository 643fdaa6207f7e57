"""The Dagster UI on the project's workspace, checked through the GraphQL API the UI itself uses.

A real `dagster-webserver` (and, for the run queue of `dagster.yaml`, a real `dagster-daemon`)
on a fresh `DAGSTER_HOME`, a fresh catalog database and a local object store: the asset graph
is the code location's, one video partition is materialized by a run launched over GraphQL, and
the asset checks of that run are seen passing; the resources' configuration it shows names the
environment variables that hold secrets, never their values. A screenshot of the asset graph is
taken for the README (`make screenshots` refreshes `docs/screenshots/asset-graph.png`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from uuid import UUID

import pytest
from dagster import AssetKey
from playwright.sync_api import Browser

from api.media_runs import REPOSITORY
from devstack.processes import Server, log_tail
from media.samples import make_clip
from pipelines.definitions import build_definitions
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus, Visibility
from storage.objects import LocalObjectStore
from tests.fixtures.browser import screenshot_path
from tests.fixtures.dagster_ui import SECRETS, DagsterUI
from tests.fixtures.uploads import finished_upload

RUN_TIMEOUT_S = 600
TERMINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
# Where the UI keeps the open groups of the global asset lineage (localStorage).
GRAPH_GROUPS_KEY = "asset-graph-open-graph-nodes-global-__GLOBAL__"

# What the UI must show of the media lifecycle and the viewing aggregates: group and partitions.
MEDIA = ("media", "DYNAMIC", "videos")
DAILY = ("engagement", "TIME_WINDOW", None)
EXPECTED_ASSETS = {
    "source_video": MEDIA,
    "renditions": MEDIA,
    "packaged_streams": MEDIA,
    "protected_streams": MEDIA,
    "thumbnails": MEDIA,
    "captions": MEDIA,
    "published_video": MEDIA,
    "daily_watch_events": DAILY,
    "user_video_interactions": DAILY,
    "daily_video_engagement": DAILY,
    "trending_videos": DAILY,
}

ASSET_GRAPH_QUERY = """
{ assetNodes {
    assetKey { path }
    groupName
    isPartitioned
    isMaterializable
    jobNames
    dependencyKeys { path }
    partitionDefinition { type name description }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking } }
    }
} }
"""
INSTIGATORS_QUERY = """
query Instigators($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) {
    ... on Sensors { results { name sensorState { id status } } }
  }
  schedulesOrError(repositorySelector: $repo) {
    ... on Schedules { results { name scheduleState { id status } } }
  }
}
"""
STOP_SENSOR = """
mutation StopSensor($id: String!) {
  stopSensor(id: $id) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}
"""
STOP_SCHEDULE = """
mutation StopSchedule($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""
ADD_PARTITION = """
mutation AddPartition($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionKey }
    ... on PythonError { message }
  }
}
"""
LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message stack }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
  }
}
"""
RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status tags { key value } }
  }
}
"""
CHECK_EXECUTIONS = """
query Checks($assetKey: AssetKeyInput!, $checkName: String!) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, limit: 1) {
    runId status evaluation { success }
  }
}
"""
RESOURCES_QUERY = """
query Resources($repo: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $repo) {
    __typename
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
  }
}
"""
# Resource fields whose values are secrets, and the variables that hold them.
SECRET_FIELDS = {
    ("catalog", "dsn"): "REELFLOW_POSTGRES_DSN",
    ("history", "pseudonym_key"): "REELFLOW_ANALYTICS_PSEUDONYM_KEY",
    ("object_store", "s3_secret_access_key"): "REELFLOW_S3_SECRET_ACCESS_KEY",
    ("object_store", "url_signing_secret"): "REELFLOW_URL_SIGNING_SECRET",
    ("media", "drm_master_key"): "REELFLOW_DRM_MASTER_KEY",
}
MATERIALIZATIONS = """
query Materializations($keys: [AssetKeyInput!], $partition: String!) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    assetMaterializations(partitions: [$partition]) { runId partition }
  }
}
"""


def test_resources_show_where_secrets_are_never_what_they_are(
    dagster_ui: DagsterUI, catalog_dsn: str
) -> None:
    answer = dagster_ui.query(RESOURCES_QUERY, repo=REPOSITORY)
    listing = answer["allTopLevelResourceDetailsOrError"]
    assert listing["__typename"] == "ResourceDetailsList", listing
    shown = json.dumps(listing)
    for value in (*SECRETS.values(), catalog_dsn):
        assert value not in shown
    configured = {
        (resource["name"], field["key"]): field
        for resource in listing["results"]
        for field in resource["configuredValues"]
    }
    for where, variable in SECRET_FIELDS.items():
        assert configured[where] == {"key": where[1], "value": variable, "type": "ENV_VAR"}
    # Plain settings are shown as they are, so an operator can read them.
    assert configured[("media", "segment_s")]["type"] == "VALUE"


def test_asset_graph_and_a_video_partition_run_through_graphql(
    dagster_ui: DagsterUI,
    catalog: Catalog,
    browser: Browser,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    # The asset graph: every asset of the code location, with its group and partitions.
    nodes = {
        "/".join(node["assetKey"]["path"]): node
        for node in dagster_ui.query(ASSET_GRAPH_QUERY)["assetNodes"]
    }
    for name, (group, partitions, partitions_name) in EXPECTED_ASSETS.items():
        node = nodes[name]
        assert node["groupName"] == group, name
        assert node["isPartitioned"], name
        assert node["partitionDefinition"]["type"] == partitions, name
        if partitions_name:
            assert node["partitionDefinition"]["name"] == partitions_name, name
    assert not nodes["daily_watch_events"]["isMaterializable"]
    assert nodes["renditions"]["dependencyKeys"] == [{"path": ["source_video"]}]
    assert all(
        "media_lifecycle" in nodes[n]["jobNames"] for n, v in EXPECTED_ASSETS.items() if v == MEDIA
    )

    defs = build_definitions(Settings())
    graph = defs.resolve_asset_graph()
    assert set(nodes) == {key.to_user_string() for key in graph.get_all_asset_keys()}
    for key in graph.get_all_asset_keys():
        node = nodes[key.to_user_string()]
        assert node["groupName"] == graph.get(key).group_name, key
        assert node["isPartitioned"] == graph.get(key).is_partitioned, key
    checks_by_asset: dict[str, set[str]] = {}
    for check_key in graph.asset_check_keys:
        checks_by_asset.setdefault(check_key.asset_key.to_user_string(), set()).add(check_key.name)
    for asset, names in checks_by_asset.items():
        shown = nodes[asset]["assetChecksOrError"]
        assert shown["__typename"] == "AssetChecks", shown
        assert {check["name"] for check in shown["checks"]} == names, asset
    # The checks a media run makes (a caption update's run the rest).
    media_checks = {
        (asset, check["name"])
        for asset, node in nodes.items()
        if node["groupName"] == "media" and "media_lifecycle" in node["jobNames"]
        for check in node["assetChecksOrError"]["checks"]
    }
    assert len(media_checks) >= 8
    assert all(
        check["blocking"]
        for node in nodes.values()
        if node["groupName"] == "media"
        for check in node["assetChecksOrError"]["checks"]
    )

    # Nothing but the run launched here may start: sensors and schedules are stopped first.
    instigators = dagster_ui.query(INSTIGATORS_QUERY, repo=REPOSITORY)
    for sensor in instigators["sensorsOrError"]["results"]:
        stopped = dagster_ui.query(STOP_SENSOR, id=sensor["sensorState"]["id"])["stopSensor"]
        assert stopped["instigationState"]["status"] == "STOPPED", stopped
    for schedule in instigators["schedulesOrError"]["results"]:
        stopped = dagster_ui.query(STOP_SCHEDULE, id=schedule["scheduleState"]["id"])
        assert stopped["stopRunningSchedule"]["scheduleState"]["status"] == "STOPPED", stopped

    # A creator's finished upload of a short clip, registered as a video partition.
    store = LocalObjectStore(
        Path(dagster_ui.env["REELFLOW_OBJECT_STORE_DIR"]), "http://127.0.0.1:8000/cdn", b"k"
    )
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=3.0)
    video_id = finished_upload(catalog, store, clip, Visibility.PREMIUM)
    partition = str(video_id)
    added = dagster_ui.query(ADD_PARTITION, repo=REPOSITORY, name="videos", key=partition)
    assert added["addDynamicPartition"] == {
        "__typename": "AddDynamicPartitionSuccess",
        "partitionKey": partition,
    }

    launched = dagster_ui.query(
        LAUNCH_RUN,
        params={
            "selector": {**REPOSITORY, "jobName": "media_lifecycle"},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert launched["run"]["status"] == "QUEUED"

    daemon: Server = request.getfixturevalue("daemon")
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = dagster_ui.query(RUN_QUERY, runId=run_id)["runOrError"]
        if run["status"] in TERMINAL_RUN_STATUSES:
            break
        assert daemon.running(), log_tail(dagster_ui.logs / "dagster-daemon.log")
        assert time.monotonic() < deadline, log_tail(dagster_ui.logs / "dagster-daemon.log")
        time.sleep(2)
    assert run["status"] == "SUCCESS", log_tail(dagster_ui.logs / "dagster-daemon.log")
    assert {"key": "dagster/partition", "value": partition} in run["tags"]
    assert catalog.get_video(UUID(partition)).encoding_status == EncodingStatus.READY

    # Every asset of the partition materialized by that run, every check passed in it.
    materialized = dagster_ui.query(
        MATERIALIZATIONS,
        keys=[{"path": [name]} for name, value in EXPECTED_ASSETS.items() if value == MEDIA],
        partition=partition,
    )["assetNodes"]
    assert len(materialized) == 7
    for node in materialized:
        assert [event["runId"] for event in node["assetMaterializations"]] == [run_id], node
    for asset, check in sorted(media_checks):
        # Each check's latest execution is the one of the partition's run.
        [execution] = dagster_ui.query(
            CHECK_EXECUTIONS, assetKey={"path": AssetKey(asset).path}, checkName=check
        )["assetCheckExecutions"]
        assert execution["runId"] == run_id, (asset, check)
        assert execution["status"] == "SUCCEEDED", (asset, check, execution)
        assert execution["evaluation"]["success"], (asset, check)

    _screenshot_asset_graph(browser, dagster_ui, {node["groupName"] for node in nodes.values()})


def _screenshot_asset_graph(browser: Browser, ui: DagsterUI, groups: set[str]) -> None:
    """The global asset lineage with every group open, as a newcomer sees it after a run."""
    # The community prompt of a first visit, answered as its "Skip" button does.
    assert ui.query("mutation { setNuxSeen }")["setNuxSeen"]
    # What the UI remembers in the browser: open groups (as "Expand all groups" leaves them)
    # and a collapsed navigation, so that the graph gets the room.
    remembered = {
        GRAPH_GROUPS_KEY: json.dumps({"expanded": ",".join(f"global@global:{g}" for g in groups)}),
        "dagster-nav-collapsed": "true",
    }
    context = browser.new_context(viewport={"width": 1600, "height": 1400})
    try:
        context.add_init_script(
            f"for (const [k, v] of Object.entries({json.dumps(remembered)})) "
            "localStorage.setItem(k, v);"
        )
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{ui.url}/asset-groups")
        for name in ("source_video", "published_video", "trending_videos"):
            page.get_by_text(name, exact=True).first.wait_for()
        page.wait_for_function("() => !/Loading|fetching statuses/.test(document.body.innerText)")
        # The graph is fitted to the whole canvas, under the floating search bar: move it down
        # from under the bar.
        page.mouse.move(800, 700)
        page.mouse.wheel(0, -50)
        page.screenshot(path=str(screenshot_path("asset-graph.png")))
    finally:
        context.close()
