"""Uploads over HTTP: the ticket, resumable chunks to the API, parts to S3, completion, and the
statuses, codes and headers each refusal of the upload flow becomes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest
import requests
from fastapi.testclient import TestClient

from api.main import create_app
from api.sessions import start_session
from api.signing import UrlSigner
from media.samples import make_clip
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog, EncodingStatus, Role, UploadStatus, Visibility
from storage.uploads import partial_file
from tests.fixtures.uploads import expire_upload

INITIATE = "/api/v1/videos/upload/initiate"
CHUNK = 16 * 1024


@dataclass(frozen=True)
class Account:
    id: UUID
    headers: dict[str, str]


def sign_in(catalog: Catalog, settings: Settings, role: Role = Role.CREATOR) -> Account:
    """An account and its bearer header, made without the login route."""
    user = catalog.create_user(f"{role.value}-{secrets.token_hex(4)}@example.com", "x", role=role)
    token = start_session(catalog, settings, user).access_token
    return Account(user.id, {"Authorization": f"Bearer {token}"})


def complete_url(video_id: str) -> str:
    return f"/api/v1/videos/{video_id}/upload/complete"


def local_path(url: str) -> str:
    """The path and query of an absolute API URL, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def put_chunk(client: TestClient, url: str, data: bytes, first: int, total: int) -> object:
    last = first + len(data) - 1
    return client.put(
        local_path(url), content=data, headers={"Content-Range": f"bytes {first}-{last}/{total}"}
    )


@pytest.fixture
def upload_settings(api_settings: Settings, tmp_path: Path) -> Settings:
    """Small chunks, so that a short clip arrives in several; partial files under tmp_path."""
    return api_settings.model_copy(
        update={"state_dir": tmp_path / "state", "upload_chunk_max_bytes": CHUNK}
    )


@pytest.fixture
def api(upload_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(upload_settings)) as client:
        yield client


@pytest.fixture
def clip(tmp_path: Path) -> bytes:
    path = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0)
    data = path.read_bytes()
    assert len(data) > 3 * CHUNK
    return data


def initiate(api: TestClient, account: Account, size: int, **fields: object) -> dict[str, object]:
    body = {"title": "My clip", "size_bytes": size, "content_type": "video/mp4"} | fields
    response = api.post(INITIATE, json=body, headers=account.headers)
    assert response.status_code == 201, response.text
    ticket: dict[str, object] = response.json()
    return ticket


def test_interrupted_upload_resumes_from_the_reported_offset(
    api: TestClient, catalog: Catalog, upload_settings: Settings, clip: bytes
) -> None:
    creator = sign_in(catalog, upload_settings)
    ticket = initiate(api, creator, len(clip), visibility="public", tags=[" Cats ", "cats"])
    assert ticket["method"] == "local"
    assert ticket["chunk_size"] == CHUNK
    url = str(ticket["upload_url"])
    video_id, upload_id = UUID(str(ticket["video_id"])), UUID(str(ticket["upload_id"]))
    assert catalog.get_video(video_id).encoding_status == EncodingStatus.UPLOADING
    assert catalog.get_video(video_id).tags == ("cats",)

    first = put_chunk(api, url, clip[:CHUNK], 0, len(clip))
    assert first.status_code == 200, first.text
    assert first.headers["Upload-Offset"] == str(CHUNK)
    assert first.json() == {
        "upload_id": str(upload_id),
        "received_bytes": CHUNK,
        "size_bytes": len(clip),
        "complete": False,
    }

    # The connection drops halfway through the second chunk: nothing of it counts.
    broken = api.put(
        local_path(url),
        content=clip[CHUNK : CHUNK + 100],
        headers={"Content-Range": f"bytes {CHUNK}-{2 * CHUNK - 1}/{len(clip)}"},
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == "chunk_length_mismatch"

    head = api.head(local_path(url))
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == str(CHUNK)
    assert head.headers["Upload-Length"] == str(len(clip))

    for wrong in (0, 2 * CHUNK):
        skipped = put_chunk(api, url, clip[wrong : wrong + CHUNK], wrong, len(clip))
        assert skipped.status_code == 409
        assert skipped.json()["code"] == "offset_mismatch"
        assert skipped.headers["Upload-Offset"] == str(CHUNK)

    # Completing early is refused: the file is not all there.
    early = api.post(complete_url(str(video_id)), headers=creator.headers)
    assert early.status_code == 409
    assert early.json()["code"] == "upload_incomplete"

    offset = int(head.headers["Upload-Offset"])
    while offset < len(clip):
        response = put_chunk(api, url, clip[offset : offset + CHUNK], offset, len(clip))
        assert response.status_code == 200, response.text
        offset = int(response.headers["Upload-Offset"])
    assert response.json()["complete"] is True
    assert not partial_file(upload_settings.uploads_partial_dir, upload_id).exists()
    assert api.head(local_path(url)).headers["Upload-Offset"] == str(len(clip))
    again = put_chunk(api, url, clip[:CHUNK], 0, len(clip))
    assert again.status_code == 409
    assert again.json()["code"] == "upload_finished"

    other = sign_in(catalog, upload_settings)
    assert api.post(complete_url(str(video_id)), headers=other.headers).status_code == 403

    done = api.post(complete_url(str(video_id)), headers=creator.headers)
    assert done.status_code == 202, done.text
    assert done.json()["id"] == str(video_id)
    assert done.json()["encoding_status"] == "uploading"
    assert done.json()["playback"] is None

    upload = catalog.get_upload(upload_id)
    assert upload.status == UploadStatus.COMPLETED
    assert upload.received_bytes == len(clip)
    store = connect.object_store(upload_settings)
    assert store.get_bytes(upload.object_key) == clip
    assert [u.id for u in catalog.list_completed_uploads_pending_ingest()] == [upload_id]


def test_forged_or_expired_upload_urls_are_refused(
    api: TestClient, catalog: Catalog, upload_settings: Settings, clip: bytes
) -> None:
    creator = sign_in(catalog, upload_settings)
    ticket = initiate(api, creator, len(clip))
    url = urlsplit(str(ticket["upload_url"]))
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    upload_id = UUID(str(ticket["upload_id"]))
    range_header = {"Content-Range": f"bytes 0-{CHUNK - 1}/{len(clip)}"}

    def put(path: str, params: dict[str, str]) -> tuple[int, str]:
        response = api.put(path, params=params, content=clip[:CHUNK], headers=range_header)
        return response.status_code, response.json()["code"]

    forged = query | {
        "signature": query["signature"][:-2] + ("AA" if query["signature"][-2:] != "AA" else "BB")
    }
    assert put(url.path, forged) == (403, "invalid_signature")
    assert put(url.path, {"expires": query["expires"]}) == (403, "invalid_signature")
    later = query | {"expires": str(int(query["expires"]) + 3600)}
    assert put(url.path, later) == (403, "invalid_signature")
    # A valid signature of this upload does not open another one.
    other = initiate(api, creator, len(clip))
    assert put(f"/api/v1/uploads/{other['upload_id']}", query) == (403, "invalid_signature")

    signer = UrlSigner.from_settings(upload_settings)
    past = int(time.time()) - 60
    expired = {"expires": str(past), "signature": signer.sign_upload(upload_id, past)}
    assert put(url.path, expired) == (410, "upload_expired")
    assert api.head(url.path, params=expired).status_code == 410
    assert api.head(url.path, params=forged).status_code == 403

    # Nothing arrived through any of them.
    assert catalog.get_upload(upload_id).received_bytes == 0
    assert api.head(url.path, params=query).headers["Upload-Offset"] == "0"


def test_chunk_rules(
    api: TestClient, catalog: Catalog, upload_settings: Settings, clip: bytes
) -> None:
    creator = sign_in(catalog, upload_settings)
    ticket = initiate(api, creator, len(clip))
    url = str(ticket["upload_url"])

    too_big = put_chunk(api, url, clip[: CHUNK + 1], 0, len(clip))
    assert too_big.status_code == 413
    beyond = put_chunk(api, url, clip[:CHUNK], 0, len(clip) + 10)
    assert (beyond.status_code, beyond.json()["code"]) == (416, "size_mismatch")
    short = put_chunk(api, url, clip[:CHUNK], 0, len(clip) - 10)
    assert (short.status_code, short.json()["code"]) == (409, "size_mismatch")
    no_range = api.put(local_path(url), content=clip[:CHUNK])
    assert (no_range.status_code, no_range.json()["code"]) == (400, "invalid_content_range")
    assert api.head(local_path(url)).headers["Upload-Offset"] == "0"


def test_initiate_refuses_oversized_and_non_video_uploads(
    api: TestClient, catalog: Catalog, upload_settings: Settings
) -> None:
    creator = sign_in(catalog, upload_settings)
    body = {
        "title": "Big",
        "size_bytes": upload_settings.max_upload_bytes + 1,
        "content_type": "video/mp4",
    }
    too_large = api.post(INITIATE, json=body, headers=creator.headers)
    assert (too_large.status_code, too_large.json()["code"]) == (413, "upload_too_large")
    text = api.post(
        INITIATE,
        json=body | {"size_bytes": 10, "content_type": "text/plain"},
        headers=creator.headers,
    )
    assert (text.status_code, text.json()["code"]) == (415, "unsupported_media_type")
    assert api.post(INITIATE, json=body | {"size_bytes": 10}).status_code == 401
    assert catalog.list_videos_by_user(creator.id) == []


def test_only_creators_and_admins_upload(
    api: TestClient, catalog: Catalog, upload_settings: Settings
) -> None:
    body = {"title": "Mine", "size_bytes": 1000, "content_type": "video/mp4"}
    viewer = sign_in(catalog, upload_settings, Role.VIEWER)
    refused = api.post(INITIATE, json=body, headers=viewer.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "creators_only")
    assert catalog.list_videos_by_user(viewer.id) == []
    for role in (Role.CREATOR, Role.ADMIN):
        account = sign_in(catalog, upload_settings, role)
        assert api.post(INITIATE, json=body, headers=account.headers).status_code == 201


def test_an_account_has_a_bounded_number_of_uploads_and_bytes_on_their_way(
    catalog: Catalog, upload_settings: Settings
) -> None:
    settings = upload_settings.model_copy(
        update={"max_open_uploads": 2, "max_upload_bytes_in_flight": 5000}
    )
    with TestClient(create_app(settings)) as api:
        creator = sign_in(catalog, settings)
        first = initiate(api, creator, 2000)
        initiate(api, creator, 2000)
        body = {"title": "Third", "size_bytes": 100, "content_type": "video/mp4"}
        third = api.post(INITIATE, json=body, headers=creator.headers)
        assert (third.status_code, third.json()["code"]) == (409, "upload_quota_exceeded")
        # Refused whole: no video is left behind without an upload.
        assert len(catalog.list_videos_by_user(creator.id)) == 2
        # Another creator has a quota of their own.
        assert initiate(api, sign_in(catalog, settings), 2000)["method"] == "local"

        other = sign_in(catalog, settings)
        initiate(api, other, 4000)
        over = api.post(INITIATE, json=body | {"size_bytes": 1001}, headers=other.headers)
        assert (over.status_code, over.json()["code"]) == (409, "upload_quota_exceeded")

        # An upload that ends frees its place.
        catalog.abort_upload(UUID(str(first["upload_id"])))
        assert api.post(INITIATE, json=body, headers=creator.headers).status_code == 201


def test_text_file_uploaded_as_video_is_refused_on_complete(
    api: TestClient, catalog: Catalog, upload_settings: Settings
) -> None:
    creator = sign_in(catalog, upload_settings)
    text = b"this is not a video, only words\n" * 200
    ticket = initiate(api, creator, len(text), visibility="public")
    url = str(ticket["upload_url"])
    for offset in range(0, len(text), CHUNK):
        assert (
            put_chunk(api, url, text[offset : offset + CHUNK], offset, len(text)).status_code == 200
        )

    refused = api.post(complete_url(str(ticket["video_id"])), headers=creator.headers)
    assert refused.status_code == 415
    assert refused.json()["code"] == "unsupported_media_type"

    upload = catalog.get_upload(UUID(str(ticket["upload_id"])))
    assert upload.status == UploadStatus.ABORTED
    assert not connect.object_store(upload_settings).exists(upload.object_key)
    assert catalog.get_video(upload.video_id).encoding_status == EncodingStatus.PENDING
    assert catalog.list_completed_uploads_pending_ingest() == []


def test_private_upload_is_not_found_for_others(
    api: TestClient, catalog: Catalog, upload_settings: Settings, clip: bytes
) -> None:
    creator = sign_in(catalog, upload_settings)
    ticket = initiate(api, creator, len(clip), visibility=Visibility.PRIVATE.value)
    stranger = sign_in(catalog, upload_settings)
    response = api.post(complete_url(str(ticket["video_id"])), headers=stranger.headers)
    assert response.status_code == 404


@pytest.fixture
def s3_settings(api_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The API on a fresh S3Proxy bucket, removed afterwards (unfinished uploads too)."""
    settings = api_settings.model_copy(
        update={
            "object_store": "s3",
            "s3_bucket": f"reelflow-test-{secrets.token_hex(6)}",
            "state_dir": tmp_path / "state",
            "upload_chunk_max_bytes": 5 * 1024**2,
        }
    )
    store = connect.s3_store(settings)
    store.ensure_bucket()
    yield settings
    store.delete_bucket()


def test_s3_multipart_upload_with_presigned_parts(
    s3_settings: Settings, catalog: Catalog, clip: bytes
) -> None:
    # Over one 5 MiB part, so that the file travels as two parts; trailing bytes after the
    # last MP4 box do not change what the file starts with.
    source = clip + secrets.token_bytes(5 * 1024**2 + 1000 - len(clip))
    with TestClient(create_app(s3_settings)) as api:
        creator = sign_in(catalog, s3_settings)
        ticket = initiate(api, creator, len(source), visibility="public")
        assert ticket["method"] == "s3"
        assert ticket["upload_url"] is None
        part_size = int(str(ticket["chunk_size"]))
        parts = ticket["parts"]
        assert isinstance(parts, list) and len(parts) == 2
        upload = catalog.get_upload(UUID(str(ticket["upload_id"])))
        assert upload.s3_upload_id is not None

        etags = []
        for part in parts:
            number = part["part_number"]
            data = source[(number - 1) * part_size : number * part_size]
            # The URL signs the part's length: a longer body is refused, not stored.
            longer = requests.put(part["url"], data=data + b"x" * 1024, timeout=30)
            assert longer.status_code == 403, longer.text
            response = requests.put(
                part["url"],
                data=data,
                headers={"Content-Type": "application/octet-stream"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            etags.append({"part_number": number, "etag": response.headers["ETag"]})

        wrong = [etags[0], {"part_number": 2, "etag": '"0000"'}]
        refused = api.post(
            complete_url(str(ticket["video_id"])), json={"parts": wrong}, headers=creator.headers
        )
        assert (refused.status_code, refused.json()["code"]) == (409, "invalid_parts")

        done = api.post(
            complete_url(str(ticket["video_id"])), json={"parts": etags}, headers=creator.headers
        )
        assert done.status_code == 202, done.text

    store = connect.object_store(s3_settings)
    assert store.get_bytes(upload.object_key) == source
    completed = catalog.get_upload(upload.id)
    assert completed.status == UploadStatus.COMPLETED
    assert completed.received_bytes == len(source)
    assert [u.id for u in catalog.list_completed_uploads_pending_ingest()] == [upload.id]


def test_an_expired_upload_takes_no_more_chunks(
    api: TestClient, catalog: Catalog, upload_settings: Settings, clip: bytes
) -> None:
    creator = sign_in(catalog, upload_settings)
    ticket = initiate(api, creator, len(clip))
    url = str(ticket["upload_url"])
    assert put_chunk(api, url, clip[:CHUNK], 0, len(clip)).status_code == 200
    expire_upload(upload_settings.postgres_dsn, UUID(str(ticket["upload_id"])))

    refused = put_chunk(api, url, clip[CHUNK : 2 * CHUNK], CHUNK, len(clip))
    assert (refused.status_code, refused.json()["code"]) == (410, "upload_expired")
    head = api.head(local_path(url))
    assert head.status_code == 410 and "Upload-Offset" not in head.headers


def test_s3_completion_needs_each_part_once(s3_settings: Settings, catalog: Catalog) -> None:
    with TestClient(create_app(s3_settings)) as api:
        creator = sign_in(catalog, s3_settings)
        ticket = initiate(api, creator, 1000)
        video_id = str(ticket["video_id"])
        part = {"part_number": 1, "etag": '"abc"'}

        for parts, code in (([], "parts_required"), ([part, part], "invalid_parts")):
            response = api.post(
                complete_url(video_id), json={"parts": parts}, headers=creator.headers
            )
            assert (response.status_code, response.json()["code"]) == (422, code)
        # Nothing was uploaded: the store refuses the part, and the upload stays open.
        refused = api.post(complete_url(video_id), json={"parts": [part]}, headers=creator.headers)
        assert (refused.status_code, refused.json()["code"]) == (409, "invalid_parts")
    upload = catalog.get_upload(UUID(str(ticket["upload_id"])))
    assert upload.status == UploadStatus.INITIATED
