"""Caption tracks over HTTP: upload as WebVTT or SRT, list, replace, delete; refusals that
name the line and keep what was stored; a change to a published video queues its re-packaging
on the Dagster webserver."""

from __future__ import annotations

from uuid import UUID

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from fastapi.testclient import TestClient

from api.main import create_app
from reelflow import connect, layout, media_runs
from reelflow.settings import Settings
from storage.catalog import Catalog, NewStreamAsset, StreamFormat, Video, Visibility
from storage.objects import ObjectStore, new_version
from tests.fixtures.api import Account
from tests.fixtures.dagster_ui import DagsterUI

VTT = b"WEBVTT\n\n00:00:02.000 --> 00:00:03.000\nSecond\n\n00:00:00.500 --> 00:00:01.500\nFirst\n"
SRT = b"1\r\n00:00:01,000 --> 00:00:02,000\r\nHola\r\n"


def url(video_id: UUID, language: str | None = None) -> str:
    base = f"/api/v1/videos/{video_id}/captions"
    return base if language is None else f"{base}/{language}"


def published(catalog: Catalog, owner: UUID, visibility: Visibility = Visibility.PUBLIC) -> Video:
    """A video of `owner` published (catalog rows only) with a 5 s duration."""
    video = catalog.create_video(owner, "Captioned", visibility=visibility)
    version = new_version()
    asset = NewStreamAsset(
        width=320,
        height=180,
        bitrate=200_000,
        codec="avc1.64000d",
        format=StreamFormat.HLS,
        cdn_url=f"https://cdn.example.test/videos/{video.id}/{version}/stream/master.m3u8",
    )
    return catalog.publish_video(video.id, version, [asset], "https://cdn.example.test/p.jpg", 5.0)


@pytest.fixture
def video(catalog: Catalog, creator: Account) -> Video:
    return published(catalog, creator.id)


@pytest.fixture
def store(api_settings: Settings) -> ObjectStore:
    return connect.object_store(api_settings)


def test_a_track_is_stored_normalised_listed_and_shown_in_the_metadata(
    client: TestClient, store: ObjectStore, video: Video, creator: Account, viewer: Account
) -> None:
    put = client.put(url(video.id, "en"), content=VTT, headers=creator.headers)
    assert put.status_code == 201, put.text
    assert put.json() | {"updated_at": None} == {
        "language": "en",
        "label": "English",
        "cues": 2,
        "revision": 1,
        "updated_at": None,
    }
    stored = store.get_bytes(layout.captions_key(video.id, "en")).decode()
    assert stored.index("First") < stored.index("Second")
    assert store.content_type(layout.captions_key(video.id, "en")).startswith("text/vtt")

    # An SRT file, a label by query; a tag in another case is the same track.
    srt = client.put(
        url(video.id, "ES-mx"),
        params={"label": "Español (México)"},
        content=SRT,
        headers=creator.headers,
    )
    assert srt.status_code == 201, srt.text
    assert srt.json()["language"] == "es-MX"
    assert store.get_bytes(layout.captions_key(video.id, "es-MX")).startswith(b"WEBVTT\n")

    listed = client.get(url(video.id), headers=viewer.headers)
    assert listed.status_code == 200
    assert [(t["language"], t["label"]) for t in listed.json()] == [
        ("en", "English"),
        ("es-MX", "Español (México)"),
    ]
    metadata = client.get(f"/api/v1/videos/{video.id}").json()
    assert metadata["captions"] == [
        {"language": "en", "label": "English"},
        {"language": "es-MX", "label": "Español (México)"},
    ]


def test_replacing_a_track_moves_its_revision_and_a_header_names_it(
    client: TestClient, video: Video, creator: Account, admin: Account
) -> None:
    assert client.put(url(video.id, "en"), content=VTT, headers=creator.headers).status_code == 201
    again = client.put(
        url(video.id, "en"), content=SRT, headers=admin.headers | {"X-Caption-Label": "Subs"}
    )
    assert again.status_code == 200, again.text
    assert (again.json()["revision"], again.json()["label"], again.json()["cues"]) == (2, "Subs", 1)


def test_a_bad_file_is_refused_with_its_line_and_the_track_stays(
    client: TestClient, store: ObjectStore, video: Video, creator: Account
) -> None:
    assert client.put(url(video.id, "en"), content=VTT, headers=creator.headers).status_code == 201
    before = store.get_bytes(layout.captions_key(video.id, "en"))
    bad = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\n00:00:03.000 --> 00:00:4.000\nx\n"
    refused = client.put(url(video.id, "en"), content=bad, headers=creator.headers)
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == "invalid_captions"
    assert body["details"] == [
        {"line": 6, "reason": "not a valid cue timing: '00:00:03.000 --> 00:00:4.000'"}
    ]
    assert "line 6" in body["message"]
    assert store.get_bytes(layout.captions_key(video.id, "en")) == before
    assert client.get(url(video.id)).json()[0]["revision"] == 1


def test_a_cue_after_the_end_of_the_video_is_refused(
    client: TestClient, video: Video, creator: Account
) -> None:
    late = b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\n00:00:06.000 --> 00:00:07.000\nx\n"
    refused = client.put(url(video.id, "fr"), content=late, headers=creator.headers)
    assert refused.status_code == 422
    assert refused.json()["details"][0]["line"] == 6
    assert client.get(url(video.id)).json() == []


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("english", {}, 422, "invalid_request"),
        ("en", {"label": "x" * 101}, 422, "invalid_request"),
        ("en", {"label": "a\tb"}, 422, "invalid_label"),
    ],
)
def test_bad_languages_and_labels_are_refused(
    client: TestClient,
    video: Video,
    creator: Account,
    path: str,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = client.put(
        f"{url(video.id)}/{path}", params=params, content=VTT, headers=creator.headers
    )
    assert (response.status_code, response.json()["code"]) == (status, code)


def test_a_file_over_the_size_limit_is_refused(
    client: TestClient, video: Video, creator: Account
) -> None:
    big = VTT + b"NOTE " + b"x" * (1024 * 1024) + b"\n"
    response = client.put(url(video.id, "en"), content=big, headers=creator.headers)
    assert response.status_code == 413
    assert client.get(url(video.id)).json() == []


def test_deleting_a_track_removes_its_file_and_row(
    client: TestClient, store: ObjectStore, video: Video, creator: Account
) -> None:
    assert client.put(url(video.id, "en"), content=VTT, headers=creator.headers).status_code == 201
    assert client.delete(url(video.id, "en"), headers=creator.headers).status_code == 204
    assert not store.exists(layout.captions_key(video.id, "en"))
    assert client.get(url(video.id)).json() == []
    assert client.get(f"/api/v1/videos/{video.id}").json()["captions"] == []
    gone = client.delete(url(video.id, "en"), headers=creator.headers)
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")


def test_a_change_to_a_published_video_is_queued_on_the_webserver(
    dagster_ui: DagsterUI, api_settings: Settings, catalog: Catalog, creator: Account
) -> None:
    settings = api_settings.model_copy(update={"dagster_url": dagster_ui.url})
    video = published(catalog, creator.id)
    with DagsterInstance.from_config(dagster_ui.env["DAGSTER_HOME"]) as instance:
        instance.add_dynamic_partitions(media_runs.PARTITIONS, [str(video.id)])
        with TestClient(create_app(settings)) as client:
            put = client.put(url(video.id, "en"), content=VTT, headers=creator.headers)
            assert put.status_code == 201, put.text
        [run] = instance.get_runs(RunsFilter(tags={media_runs.VIDEO_TAG: str(video.id)}))
        # No daemon runs here: the run waits in the queue, where the daemon would take it.
        assert run.status == DagsterRunStatus.QUEUED
        assert run.job_name == media_runs.CAPTIONS_JOB
        assert run.tags[media_runs.PARTITION_TAG] == str(video.id)
