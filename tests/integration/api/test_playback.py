"""Visibility and signed playback of videos published by the real media pipeline."""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from uuid import UUID

import psycopg
import pytest
from dagster import instance_for_test
from fastapi.testclient import TestClient
from httpx import Response
from psycopg import sql

from api.main import create_app
from api.sessions import start_session
from api.signing import UrlSigner
from media import manifests
from media.samples import make_clip
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import (
    BillingInterval,
    Catalog,
    EncodingStatus,
    Role,
    SubscriptionStatus,
    Visibility,
)
from storage.migrate import upgrade
from storage.objects import ObjectStore, new_version
from tests.fixtures.catalog import database_dsn
from tests.fixtures.media_pipeline import materialize_video
from tests.fixtures.uploads import finished_upload


@dataclass(frozen=True)
class Account:
    id: UUID
    headers: dict[str, str]


@dataclass
class Published:
    """An API on its own catalog and store, with a public and a premium video published."""

    settings: Settings
    catalog: Catalog
    store: ObjectStore
    client: TestClient
    public: UUID
    premium: UUID
    owner: Account
    admin: Account
    subscriber: Account
    viewer: Account

    def sign_in(self, role: Role = Role.VIEWER, *, subscribed: bool = False) -> Account:
        return sign_in(self.catalog, self.settings, role, subscribed=subscribed)


def sign_in(
    catalog: Catalog, settings: Settings, role: Role = Role.VIEWER, *, subscribed: bool = False
) -> Account:
    """An account and its bearer header, made without the login route."""
    user = catalog.create_user(f"{role.value}-{secrets.token_hex(4)}@example.com", "x", role=role)
    if subscribed:
        catalog.upsert_plan(
            "monthly",
            name="Monthly",
            price_cents=999,
            currency="usd",
            interval=BillingInterval.MONTH,
        )
        catalog.create_subscription(
            user.id, "monthly", f"sub_{secrets.token_hex(6)}", status=SubscriptionStatus.ACTIVE
        )
    token = start_session(catalog, settings, user).access_token
    return Account(user.id, {"Authorization": f"Bearer {token}"})


def publish_video(
    settings: Settings, catalog: Catalog, store: ObjectStore, source: Path, visibility: Visibility
) -> UUID:
    """Upload `source` and run every media stage on it, as the sensor's run would."""
    video_id = finished_upload(catalog, store, source, visibility)
    with instance_for_test() as instance:
        assert materialize_video(settings, video_id, instance).success
    assert catalog.get_video(video_id).encoding_status == EncodingStatus.READY
    return video_id


@pytest.fixture(scope="module")
def published(dev_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    tmp = tmp_path_factory.mktemp("playback")
    name = f"reelflow_test_{secrets.token_hex(6)}"
    with psycopg.connect(dev_stack.postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = database_dsn(dev_stack.postgres_dsn, name)
    upgrade(dsn)
    settings = dev_stack.model_copy(
        update={
            "postgres_dsn": dsn,
            "object_store": "local",
            "object_store_dir": tmp / "objects",
            "work_dir": tmp / "work",
            "state_dir": tmp / "state",
            "x264_preset": "ultrafast",
        }
    )
    store = connect.object_store(settings)
    try:
        with Catalog(dsn, max_size=4) as catalog:
            source = make_clip(tmp / "clip.mp4", width=320, height=180, duration_s=3.0)
            public = publish_video(settings, catalog, store, source, Visibility.PUBLIC)
            premium = publish_video(settings, catalog, store, source, Visibility.PREMIUM)
            # Both belong to one creator, as if they had uploaded both.
            owner_id = catalog.get_video(public).uploaded_by_user_id
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(
                    "UPDATE videos SET uploaded_by_user_id = %s WHERE id = %s", (owner_id, premium)
                )
            owner_token = start_session(catalog, settings, catalog.get_user(owner_id)).access_token
            with TestClient(create_app(settings)) as client:
                yield Published(
                    settings=settings,
                    catalog=catalog,
                    store=store,
                    client=client,
                    public=public,
                    premium=premium,
                    owner=Account(owner_id, {"Authorization": f"Bearer {owner_token}"}),
                    admin=sign_in(catalog, settings, Role.ADMIN),
                    subscriber=sign_in(catalog, settings, subscribed=True),
                    viewer=sign_in(catalog, settings),
                )
    finally:
        with psycopg.connect(dev_stack.postgres_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def path_of(url: str) -> str:
    """The path (and query) of an absolute URL, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def get_video(p: Published, video_id: UUID, account: Account | None) -> Response:
    headers = account.headers if account else {}
    return p.client.get(f"/api/v1/videos/{video_id}", headers=headers)


def fetch(p: Published, url: str, **headers: str) -> Response:
    return p.client.get(path_of(url), headers=headers)


ROLES = ("anonymous", "viewer", "owner", "admin", "subscriber")
# For each visibility: who gets the metadata (200) and who gets playback URLs too.
MATRIX = {
    Visibility.PUBLIC: (set(ROLES), set(ROLES)),
    Visibility.UNLISTED: (set(ROLES), set(ROLES)),
    Visibility.PRIVATE: ({"owner", "admin"}, {"owner", "admin"}),
    Visibility.PREMIUM: (set(ROLES), {"owner", "admin", "subscriber"}),
}


@pytest.mark.parametrize("visibility", list(MATRIX))
def test_visibility_matrix(published: Published, visibility: Visibility) -> None:
    p = published
    accounts: dict[str, Account | None] = {
        "anonymous": None,
        "viewer": p.viewer,
        "owner": p.owner,
        "admin": p.admin,
        "subscriber": p.subscriber,
    }
    seen, played = MATRIX[visibility]
    p.catalog.update_video(p.public, visibility=visibility)
    try:
        for role, account in accounts.items():
            response = get_video(p, p.public, account)
            if role not in seen:
                assert response.status_code == 404, role
                assert response.json()["code"] == "not_found"
                continue
            assert response.status_code == 200, (role, response.text)
            body = response.json()
            assert body["visibility"] == visibility.value
            assert body["poster_url"] is not None
            assert body["thumbnails_vtt_url"] is not None
            assert (body["playback"] is not None) == (role in played), role
            assert response.headers["Cache-Control"] == "private, no-store"
    finally:
        p.catalog.update_video(p.public, visibility=Visibility.PUBLIC)


def test_private_video_is_indistinguishable_from_a_missing_one(published: Published) -> None:
    p = published
    p.catalog.update_video(p.public, visibility=Visibility.PRIVATE)
    try:
        hidden = get_video(p, p.public, p.viewer)
        missing = get_video(p, UUID(int=p.public.int ^ 1), p.viewer)
        assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
        patch = p.client.patch(
            f"/api/v1/videos/{p.public}", json={"title": "mine"}, headers=p.viewer.headers
        )
        assert patch.status_code == 404
    finally:
        p.catalog.update_video(p.public, visibility=Visibility.PUBLIC)


def test_failure_reason_is_for_the_owner_only(published: Published) -> None:
    p = published
    video = p.catalog.create_video(p.owner.id, "Broken", visibility=Visibility.PUBLIC)
    p.catalog.set_encoding_status(video.id, EncodingStatus.FAILED, "not_media: no streams")
    assert get_video(p, video.id, p.owner).json()["failure_reason"] == "not_media: no streams"
    assert get_video(p, video.id, p.admin).json()["failure_reason"] == "not_media: no streams"
    assert get_video(p, video.id, p.viewer).json()["failure_reason"] is None
    assert get_video(p, video.id, None).json()["playback"] is None


def test_signed_hls_and_dash_play_through_the_cdn(published: Published) -> None:
    p = published
    body = get_video(p, p.public, None).json()
    playback = body["playback"]
    assert playback["drm"] is None
    version = p.catalog.get_video(p.public).published_version
    assert f"/videos/{p.public}/{version}/stream/master.m3u8" in playback["hls_url"]
    assert playback["hls_url"].startswith(p.settings.cdn_base_url + "/t/")

    master = fetch(p, playback["hls_url"])
    assert master.status_code == 200
    assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert master.headers["Cache-Control"] == "public, max-age=60"
    assert master.headers["Access-Control-Allow-Origin"] == "*"
    variant_url = urljoin(
        playback["hls_url"], manifests.parse_master_playlist(master.text).variants[0]
    )
    variant = fetch(p, variant_url)
    assert variant.status_code == 200
    media = manifests.parse_media_playlist(variant.text)
    init_url = urljoin(variant_url, media.maps[0])
    segment_url = urljoin(variant_url, media.segments[0])

    segment = fetch(p, segment_url)
    assert segment.status_code == 200
    assert segment.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert segment.headers["Accept-Ranges"] == "bytes"
    key = path_of(segment_url).split("/", 4)[4]
    stored = p.store.get_bytes(key)
    assert segment.content == stored
    assert fetch(p, init_url).content == p.store.get_bytes(path_of(init_url).split("/", 4)[4])

    dash = fetch(p, playback["dash_url"])
    assert dash.status_code == 200
    assert dash.headers["Content-Type"] == "application/dash+xml"
    representation = manifests.parse_mpd(dash.text)[0]
    assert representation.init is not None
    assert fetch(p, urljoin(playback["dash_url"], representation.init)).status_code == 200
    assert fetch(p, urljoin(playback["dash_url"], representation.media[0])).status_code == 200


def test_ranges_and_conditional_requests(published: Published) -> None:
    p = published
    playback = get_video(p, p.public, None).json()["playback"]
    variant_url = urljoin(
        playback["hls_url"],
        manifests.parse_master_playlist(fetch(p, playback["hls_url"]).text).variants[0],
    )
    media = manifests.parse_media_playlist(fetch(p, variant_url).text)
    segment_url = urljoin(variant_url, media.segments[0])
    data = fetch(p, segment_url).content
    size = len(data)
    assert size > 200

    part = fetch(p, segment_url, Range="bytes=10-99")
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 10-99/{size}"
    assert part.headers["Content-Length"] == "90"
    assert part.content == data[10:100]
    tail = fetch(p, segment_url, Range="bytes=-50")
    assert (tail.status_code, tail.content) == (206, data[-50:])
    open_ended = fetch(p, segment_url, Range=f"bytes={size - 7}-")
    assert (open_ended.status_code, open_ended.content) == (206, data[-7:])
    clamped = fetch(p, segment_url, Range=f"bytes=0-{size + 1000}")
    assert clamped.headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"

    beyond = fetch(p, segment_url, Range=f"bytes={size}-")
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    assert fetch(p, segment_url, Range="bytes=0-1,5-9").content == data

    head = p.client.head(path_of(segment_url))
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(size)
    assert head.content == b""
    etag = head.headers["ETag"]
    assert fetch(p, segment_url, **{"If-None-Match": etag}).status_code == 304
    stale = fetch(p, segment_url, Range="bytes=0-9", **{"If-Range": '"other"'})
    assert (stale.status_code, stale.content) == (200, data)


def test_tampered_expired_or_foreign_tokens_are_refused(published: Published) -> None:
    p = published
    playback = get_video(p, p.public, None).json()["playback"]
    hls = path_of(playback["hls_url"])
    _, _, _, token, rest = hls.split("/", 4)
    assert p.client.get(hls).status_code == 200

    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    tampered = p.client.get(f"/cdn/t/{flipped}/{rest}")
    assert (tampered.status_code, tampered.json()["code"]) == (403, "invalid_token")
    assert tampered.headers["Access-Control-Allow-Origin"] == "*"
    assert p.client.get(f"/cdn/t/{token[:-1]}/{rest}").status_code == 403

    signer = UrlSigner.from_settings(p.settings)
    prefix = "/".join(rest.split("/")[:3]) + "/"
    expired = signer.sign_prefix(prefix, 60, now=time.time() - 120)
    assert p.client.get(f"/cdn/{expired.path(rest)}").status_code == 403
    fresh = signer.sign_prefix(prefix, 60)
    assert p.client.get(f"/cdn/{fresh.path(rest)}").status_code == 200
    # Another secret signs nothing here.
    foreign = UrlSigner(b"another-secret").sign_prefix(prefix, 60)
    assert p.client.get(f"/cdn/{foreign.path(rest)}").status_code == 403

    # Outside the granted prefix: another video's stream, and the version's parent folder.
    premium = p.catalog.get_video(p.premium)
    other = f"videos/{p.premium}/{premium.published_version}/stream/master.m3u8"
    assert p.store.exists(other)
    assert p.client.get(f"/cdn/t/{token}/{other}").status_code == 403
    assert p.client.get(f"/cdn/t/{token}/videos/{p.public}/CURRENT").status_code == 403
    # Traversal out of the prefix never reaches the store.
    escape = f"/cdn/t/{token}/{prefix}%2e%2e/%2e%2e/{p.premium}/{premium.published_version}/x"
    assert p.client.get(escape).status_code == 404
    assert p.client.get(f"/cdn/t/{token}/{prefix}stream/missing.m4s").status_code == 404


def test_thumbnails_are_signed_apart_from_the_stream(published: Published) -> None:
    p = published
    body = get_video(p, p.premium, None).json()
    assert body["playback"] is None
    poster = fetch(p, body["poster_url"])
    assert poster.status_code == 200
    assert poster.headers["Content-Type"] == "image/jpeg"
    assert poster.content.startswith(b"\xff\xd8")
    vtt = fetch(p, body["thumbnails_vtt_url"])
    assert vtt.status_code == 200
    assert vtt.headers["Content-Type"] == "text/vtt"
    assert vtt.text.startswith("WEBVTT")
    sprite = next(line for line in vtt.text.splitlines() if "#xywh=" in line)
    sprite_url = urljoin(body["thumbnails_vtt_url"], sprite.split("#")[0])
    assert fetch(p, sprite_url).headers["Content-Type"] == "image/jpeg"

    # The thumbnails grant does not open the premium stream.
    token = path_of(body["poster_url"]).split("/")[3]
    version = p.catalog.get_video(p.premium).published_version
    stream = f"videos/{p.premium}/{version}/stream/master.m3u8"
    assert p.client.get(f"/cdn/t/{token}/{stream}").status_code == 403


def test_list_cards_carry_signed_posters(published: Published) -> None:
    p = published
    cards = p.client.get("/api/v1/search").json()["items"]
    assert {card["id"] for card in cards} >= {str(p.public), str(p.premium)}
    for card in cards:
        poster = fetch(p, card["thumbnail_url"])
        assert poster.status_code == 200, card
        assert poster.content.startswith(b"\xff\xd8")
        # Signed on the thumbnails folder only, like the video's own poster.
        token, key = path_of(card["thumbnail_url"]).split("/", 4)[3:]
        stream = key.replace("thumbs/poster.jpg", "stream/master.m3u8")
        assert p.client.get(f"/cdn/t/{token}/{stream}").status_code == 403


def test_premium_playback_carries_drm_details(published: Published) -> None:
    p = published
    playback = get_video(p, p.premium, p.subscriber).json()["playback"]
    drm_info = playback["drm"]
    assert drm_info["scheme"] == p.settings.drm_scheme
    keys = p.catalog.keys_for_video(p.premium)
    stream_key = next(k for k in keys if k.scheme.value == p.settings.drm_scheme)
    assert len(drm_info["key_ids"]) == 1
    assert UUID(bytes=_unb64(drm_info["key_ids"][0])) == stream_key.key_id
    api = p.settings.api_base_url
    assert drm_info["clearkey_license_url"] == f"{api}/api/v1/drm/clearkey/license"
    assert drm_info["hls_key_url"] == f"{api}/api/v1/drm/hls-key/{p.premium}"

    mpd = fetch(p, playback["dash_url"])
    assert "e2719d58-a985-b3c9-781a-b030af78d30e" in mpd.text
    aes_master_url = drm_info["hls_aes_url"]
    aes_master = fetch(p, aes_master_url)
    assert aes_master.status_code == 200
    variant_url = urljoin(
        aes_master_url, manifests.parse_master_playlist(aes_master.text).variants[0]
    )
    variant = manifests.parse_media_playlist(fetch(p, variant_url).text)
    assert variant.keys[0]["METHOD"] == "AES-128"
    assert variant.keys[0]["URI"] == drm_info["hls_key_url"]
    assert fetch(p, urljoin(variant_url, variant.segments[0])).status_code == 200


def test_edit_and_delete(published: Published, tmp_path: Path) -> None:
    p = published
    changed = p.client.patch(
        f"/api/v1/videos/{p.public}",
        json={"title": "  New title ", "tags": ["A", "b"], "description": "d"},
        headers=p.owner.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["title"], changed.json()["tags"]) == ("New title", ["a", "b"])
    forbidden = p.client.patch(
        f"/api/v1/videos/{p.public}", json={"title": "x"}, headers=p.viewer.headers
    )
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    invalid = p.client.patch(
        f"/api/v1/videos/{p.public}", json={"visibility": "secret"}, headers=p.owner.headers
    )
    assert invalid.status_code == 422

    # A separate published video to delete, so that the other tests keep theirs.
    source = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0)
    doomed = publish_video(p.settings, p.catalog, p.store, source, Visibility.PUBLIC)
    owner = p.catalog.get_video(doomed).uploaded_by_user_id
    owner_headers = {
        "Authorization": "Bearer "
        + start_session(p.catalog, p.settings, p.catalog.get_user(owner)).access_token
    }
    hls = get_video(p, doomed, None).json()["playback"]["hls_url"]
    assert p.client.delete(f"/api/v1/videos/{doomed}", headers=p.viewer.headers).status_code == 403
    assert p.client.delete(f"/api/v1/videos/{doomed}").status_code == 401
    assert p.client.delete(f"/api/v1/videos/{doomed}", headers=owner_headers).status_code == 204
    assert get_video(p, doomed, p.admin).status_code == 404
    assert p.store.list(f"videos/{doomed}") == []
    assert p.store.list(f"uploads/{doomed}") == []
    assert fetch(p, hls).status_code == 404
    assert p.client.delete(f"/api/v1/videos/{doomed}", headers=owner_headers).status_code == 404


def test_takedown_stops_playback_and_restore_brings_it_back(published: Published) -> None:
    p = published
    before = get_video(p, p.premium, p.subscriber).json()["playback"]
    kid = before["drm"]["key_ids"][0]
    licence = {"kids": [kid], "type": "temporary"}
    license_path = "/api/v1/drm/clearkey/license"
    key_path = f"/api/v1/drm/hls-key/{p.premium}"
    assert (
        p.client.post(license_path, json=licence, headers=p.subscriber.headers).status_code == 200
    )

    takedown = f"/api/v1/admin/videos/{p.premium}/takedown"
    refused = p.client.post(takedown, json={"reason": "copyright"}, headers=p.owner.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    taken = p.client.post(takedown, json={"reason": "copyright claim"}, headers=p.admin.headers)
    assert taken.status_code == 200, taken.text
    assert taken.json()["takedown_reason"] == "copyright claim"
    assert taken.json()["taken_down_at"] is not None
    assert taken.json()["playback"] is None
    try:
        for account in (None, p.viewer, p.subscriber, p.owner):
            assert get_video(p, p.premium, account).status_code == 404
        admin_view = get_video(p, p.premium, p.admin).json()
        assert admin_view["playback"] is None
        assert admin_view["takedown_reason"] == "copyright claim"
        assert get_video(p, p.premium, p.subscriber).json()["code"] == "not_found"
        # URLs handed out before the takedown stop working too.
        assert fetch(p, before["hls_url"]).status_code == 404
        assert fetch(p, before["drm"]["hls_aes_url"]).status_code == 404
        gone = p.client.post(license_path, json=licence, headers=p.subscriber.headers)
        assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
        assert p.client.get(key_path, headers=p.subscriber.headers).status_code == 404
        for_admin = p.client.post(license_path, json=licence, headers=p.admin.headers)
        assert (for_admin.status_code, for_admin.json()["code"]) == (403, "taken_down")
        assert p.client.get(key_path, headers=p.admin.headers).status_code == 403
    finally:
        restored = p.client.post(
            f"/api/v1/admin/videos/{p.premium}/restore", headers=p.admin.headers
        )
    assert restored.status_code == 200
    assert restored.json()["taken_down_at"] is None
    after = get_video(p, p.premium, p.subscriber).json()
    assert after["visibility"] == "premium"
    assert after["playback"] is not None
    assert fetch(p, before["hls_url"]).status_code == 200
    assert (
        p.client.post(license_path, json=licence, headers=p.subscriber.headers).status_code == 200
    )
    assert p.client.get(key_path, headers=p.subscriber.headers).status_code == 200


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_cdn_serves_from_s3_with_ranges(published: Published) -> None:
    p = published
    settings = p.settings.model_copy(
        update={"object_store": "s3", "s3_bucket": f"reelflow-test-{secrets.token_hex(6)}"}
    )
    store = connect.s3_store(settings)
    store.ensure_bucket()
    try:
        video = p.catalog.create_video(p.owner.id, "On S3", visibility=Visibility.PUBLIC)
        prefix = f"videos/{video.id}/{new_version()}/"
        data = secrets.token_bytes(200_000)
        store.put_bytes(prefix + "stream/r180/1.m4s", data)
        store.put_bytes(prefix + "stream/master.m3u8", b"#EXTM3U\n")
        grant = UrlSigner.from_settings(settings).sign_prefix(prefix, 60)
        with TestClient(create_app(settings)) as client:
            segment = f"/cdn/{grant.path(prefix + 'stream/r180/1.m4s')}"
            whole = client.get(segment)
            assert (whole.status_code, whole.content) == (200, data)
            assert whole.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            part = client.get(segment, headers={"Range": "bytes=1000-1999"})
            assert part.status_code == 206
            assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
            assert part.content == data[1000:2000]
            assert client.get(segment, headers={"Range": "bytes=-10"}).content == data[-10:]
            beyond = client.get(segment, headers={"Range": f"bytes={len(data)}-"})
            assert beyond.status_code == 416
            head = client.head(segment)
            assert head.headers["Content-Length"] == str(len(data))
            assert (
                client.get(segment, headers={"If-None-Match": head.headers["ETag"]}).status_code
                == 304
            )
            master = client.get(f"/cdn/{grant.path(prefix + 'stream/master.m3u8')}")
            assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
            assert client.get(f"/cdn/{grant.path(prefix + 'stream/none.m4s')}").status_code == 404
    finally:
        store.delete_bucket()
