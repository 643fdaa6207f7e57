"""A creator's whole journey through the HTTP API, on the real services.

Register, sign in, upload a clip in resumable chunks with an interruption, complete it, let the
media pipeline publish it (the run the upload sensor starts), play it through the signed CDN
URLs, report watching, read the history, export the account's data and erase the account.
Only the pipeline run is not an HTTP call, because the API has no route that starts it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from uuid import UUID, uuid4

import pytest
from dagster import (
    SensorResult,
    build_sensor_context,
    instance_for_test,
)
from fastapi.testclient import TestClient

from api.main import create_app
from media import manifests
from media.samples import make_clip
from pipelines.sensors import upload_sensor
from reelflow import connect
from reelflow.settings import Settings
from tests.fixtures.mail import Inbox, register_by_mail
from tests.fixtures.media_pipeline import materialize_video, media_resources

# Small chunks, so that the clip arrives in several and the interruption falls inside it.
CHUNK = 16 * 1024
API = "/api/v1"


@pytest.fixture
def flow_settings(api_settings: Settings, tmp_path: Path) -> Settings:
    return api_settings.model_copy(
        update={
            "state_dir": tmp_path / "state",
            "upload_chunk_max_bytes": CHUNK,
            "x264_preset": "ultrafast",
        }
    )


@pytest.fixture
def api(flow_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(flow_settings)) as client:
        yield client


def path_of(url: str) -> str:
    """The path and query of an absolute URL, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def content_range(first: int, length: int, total: int) -> dict[str, str]:
    return {"Content-Range": f"bytes {first}-{first + length - 1}/{total}"}


def run_pipeline(settings: Settings, video_id: UUID) -> None:
    """What the upload sensor does with a completed upload: one run of every media stage."""
    with instance_for_test() as instance:
        resources = media_resources(settings)
        with build_sensor_context(instance=instance, resources=resources) as context:
            sensed = upload_sensor(context)
        assert isinstance(sensed, SensorResult)
        assert [r.partition_key for r in sensed.run_requests or []] == [str(video_id)]
        assert materialize_video(settings, video_id, instance).success


def test_register_upload_play_watch_export_erase(
    api: TestClient, flow_settings: Settings, inbox: Inbox, tmp_path: Path
) -> None:
    email = f"creator-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(16)
    registered = register_by_mail(
        api, inbox, email=email, password=password, display_name="Ada", as_creator=True
    )
    assert registered["role"] == "creator"
    login = api.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    me = {"Authorization": f"Bearer {login.json()['access_token']}"}

    # Upload: initiate, one chunk, an interrupted chunk, ask where to resume, finish.
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0).read_bytes()
    total = len(clip)
    assert total > 3 * CHUNK
    initiated = api.post(
        f"{API}/videos/upload/initiate",
        json={
            "title": "My first clip",
            "description": "<b>bold</b> and 'quoted'; DROP TABLE videos;",
            "tags": ["Travel", "test"],
            "visibility": "public",
            "size_bytes": total,
            "content_type": "video/mp4",
        },
        headers=me,
    )
    assert initiated.status_code == 201, initiated.text
    ticket = initiated.json()
    assert ticket["method"] == "local"
    assert datetime.fromisoformat(ticket["expires_at"]) > datetime.now(UTC)
    video_id = UUID(ticket["video_id"])
    upload = path_of(ticket["upload_url"])
    chunk = ticket["chunk_size"]
    assert chunk == CHUNK

    first = api.put(upload, content=clip[:chunk], headers=content_range(0, chunk, total))
    assert first.status_code == 200, first.text
    assert first.headers["Upload-Offset"] == str(chunk)
    # The connection drops halfway through the second chunk: fewer bytes than announced.
    broken = api.put(
        upload, content=clip[chunk : chunk + chunk // 2], headers=content_range(chunk, chunk, total)
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "chunk_length_mismatch")
    early = api.post(f"{API}/videos/{video_id}/upload/complete", headers=me)
    assert (early.status_code, early.json()["code"]) == (409, "upload_incomplete")

    offset = api.head(upload)
    assert offset.status_code == 200
    resume_at = int(offset.headers["Upload-Offset"])
    assert resume_at == chunk
    while resume_at < total:
        piece = clip[resume_at : resume_at + chunk]
        sent = api.put(upload, content=piece, headers=content_range(resume_at, len(piece), total))
        assert sent.status_code == 200, sent.text
        resume_at = int(sent.headers["Upload-Offset"])
    assert sent.json()["complete"] is True

    completed = api.post(f"{API}/videos/{video_id}/upload/complete", headers=me)
    assert completed.status_code == 202, completed.text
    assert completed.json()["playback"] is None
    store = connect.object_store(flow_settings)
    assert [store.get_bytes(key) for key in store.list(f"uploads/{video_id}/")] == [clip]

    run_pipeline(flow_settings, video_id)

    # Metadata with signed, expiring playback URLs, for anyone since the video is public.
    shown = api.get(f"{API}/videos/{video_id}")
    assert shown.status_code == 200, shown.text
    video = shown.json()
    assert video["encoding_status"] == "ready"
    # The creator hears of it by mail, from the API's sender.
    (ready,) = inbox.wait_for(email, 2)[1:]
    assert ready["Subject"] == "Your video is ready: My first clip"
    assert video["title"] == "My first clip"
    assert video["description"] == "<b>bold</b> and 'quoted'; DROP TABLE videos;"
    assert video["tags"] == ["travel", "test"]
    assert video["duration_s"] == pytest.approx(2.0, abs=0.1)
    playback = video["playback"]
    assert datetime.fromisoformat(playback["expires_at"]) > datetime.now(UTC)
    for url in (playback["hls_url"], playback["dash_url"]):
        assert url.startswith(f"{flow_settings.cdn_base_url}/t/")
        assert f"/videos/{video_id}/" in url

    # The player: HLS master, a variant playlist and one segment through the CDN origin.
    master = api.get(path_of(playback["hls_url"]))
    assert master.status_code == 200
    assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    variant_url = urljoin(
        playback["hls_url"], manifests.parse_master_playlist(master.text).variants[0]
    )
    variant = api.get(path_of(variant_url))
    assert variant.status_code == 200
    segment_url = urljoin(variant_url, manifests.parse_media_playlist(variant.text).segments[0])
    segment = api.get(path_of(segment_url))
    assert segment.status_code == 200
    assert segment.content == store.get_bytes(path_of(segment_url).split("/", 4)[4])
    assert api.get(path_of(playback["dash_url"])).status_code == 200

    # Watching: two reports of one session, then "continue watching".
    session = str(uuid4())
    duration = video["duration_s"]
    for position, delta in ((0.5, 0.5), (1.0, 0.5)):
        report = {
            "position_s": position,
            "duration_s": duration,
            "watched_delta_s": delta,
            "session_id": session,
            "event_type": "progress",
        }
        watched = api.post(f"{API}/videos/{video_id}/watch", json=report, headers=me)
        assert watched.status_code == 200, watched.text
    progress = watched.json()
    assert (progress["position_s"], progress["watched_s"]) == (1.0, 1.0)
    assert progress["finished"] is False
    history = api.get(f"{API}/users/me/history", headers=me).json()["items"]
    assert [(h["video"]["id"], h["position_s"]) for h in history] == [(str(video_id), 1.0)]

    comment = api.post(
        f"{API}/videos/{video_id}/comments", json={"text": "first!"}, headers=me
    ).json()

    # Everything kept about the account.
    export = api.get(f"{API}/users/me/export", headers=me)
    assert export.status_code == 200, export.text
    data = export.json()
    assert data["profile"]["email"] == email
    assert data["profile"]["profile_data"] == {"display_name": "Ada"}
    assert "password" not in export.text and "hash" not in export.text
    assert [v["id"] for v in data["videos"]] == [str(video_id)]
    assert [(h["video_id"], h["position_s"]) for h in data["history"]] == [(str(video_id), 1.0)]
    assert [c["id"] for c in data["comments"]] == [comment["id"]]

    # Erasure: the token is refused, the password too; the video and comment stay, anonymous.
    assert api.delete(f"{API}/users/me", headers=me).status_code == 204
    refused = api.get(f"{API}/users/me", headers=me)
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
    again = api.post(f"{API}/auth/login", json={"email": email, "password": password})
    assert (again.status_code, again.json()["code"]) == (401, "invalid_credentials")
    comments = api.get(f"{API}/videos/{video_id}/comments").json()["items"]
    assert [(c["id"], c["author_id"]) for c in comments] == [(comment["id"], None)]
