"""With only the Dagster daemon running, a finished upload becomes a ready, playable video."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from media import tools
from media.manifests import is_master_playlist
from media.samples import make_clip
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus, Visibility
from storage.objects import LocalObjectStore
from tests.fixtures.processes import dagster_environment, dagster_server
from tests.fixtures.uploads import finished_upload

READY_TIMEOUT_S = 300


@pytest.fixture
def daemon_env(dev_stack: Settings, catalog_dsn: str, tmp_path: Path) -> dict[str, str]:
    return dagster_environment(catalog_dsn, tmp_path)


@pytest.fixture
def daemon(daemon_env: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "daemon.log"
    with dagster_server("dagster-daemon", ["run", "-w", "workspace.yaml"], daemon_env, log):
        yield log


def test_upload_becomes_ready_with_only_the_daemon_running(
    daemon_env: dict[str, str], catalog: Catalog, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = LocalObjectStore(Path(daemon_env["REELFLOW_OBJECT_STORE_DIR"]), "http://cdn", b"k")
    source = make_clip(tmp_path / "clip.mp4", width=480, height=270, duration_s=3.0)
    video_id = finished_upload(catalog, store, source, Visibility.PUBLIC)

    log: Path = request.getfixturevalue("daemon")
    deadline = time.monotonic() + READY_TIMEOUT_S
    video = catalog.get_video(video_id)
    while video.encoding_status not in (EncodingStatus.READY, EncodingStatus.FAILED):
        assert time.monotonic() < deadline, "not ready in time:\n" + log.read_text()[-3000:]
        time.sleep(2)
        video = catalog.get_video(video_id)
    assert video.encoding_status == EncodingStatus.READY, video.failure_reason

    # The published HLS package plays: ffmpeg reads the master playlist and decodes every stream.
    prefix = f"videos/{video_id}/{video.published_version}/stream/"
    playlists = [k for k in store.list(prefix) if k.endswith(".m3u8")]
    master = next(k for k in playlists if is_master_playlist(store.get_bytes(k).decode()))
    played = tools.run(
        [
            tools.ffmpeg(),
            "-v",
            "error",
            "-i",
            str(store.path(master)),
            "-map",
            "0",
            "-f",
            "null",
            "-",
        ]
    )
    assert played.stderr.strip() == ""

    # Operations re-process a video: a new version is published and replaces the first.
    first = video.published_version
    reelflow = str(Path(sys.executable).with_name("reelflow"))
    queued = subprocess.run(
        [reelflow, "reprocess", str(video_id)], env=daemon_env, capture_output=True, text=True
    )
    assert queued.returncode == 0, queued.stdout + queued.stderr
    assert f"queued media_lifecycle for video {video_id}" in queued.stdout
    while catalog.get_video(video_id).published_version == first:
        assert time.monotonic() < deadline + 120, "not re-published:\n" + log.read_text()[-3000:]
        time.sleep(2)
    again = catalog.get_video(video_id)
    assert again.encoding_status == EncodingStatus.READY
    assert len(catalog.list_stream_assets(video_id)) == len(
        {(a.format, a.resolution) for a in catalog.list_stream_assets(video_id)}
    )
