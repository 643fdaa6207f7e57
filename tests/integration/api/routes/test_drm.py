"""ClearKey licences and the AES-128 HLS key: only for callers who may play the video."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from media.drm import kid_b64url, new_content_key
from reelflow.settings import Settings
from storage.catalog import (
    Catalog,
    DrmScheme,
    NewStreamAsset,
    Role,
    StreamFormat,
    SubscriptionStatus,
    Visibility,
)
from storage.objects import new_version
from tests.fixtures.api_module import bearer
from tests.fixtures.playback import Account, sign_in

LICENSE = "/api/v1/drm/clearkey/license"


@dataclass(frozen=True)
class Keys:
    video_id: UUID
    cmaf_kid: str
    cmaf_key: bytes
    aes_key: bytes


@dataclass
class Setup:
    catalog: Catalog
    settings: Settings
    client: TestClient
    owner: Account

    def sign_in(
        self, role: Role = Role.VIEWER, status: SubscriptionStatus | None = None
    ) -> Account:
        return sign_in(self.catalog, self.settings, role, status=status)

    def protected_video(self, visibility: Visibility = Visibility.PREMIUM) -> Keys:
        """A published video with a CMAF key and an AES-128 key, stored as the pipeline does."""
        video = self.catalog.create_video(self.owner.id, "Protected", visibility=visibility)
        master = self.settings.drm_master_key.get_secret_value()
        cmaf, aes = new_content_key(), new_content_key()
        cmaf_id = UUID(bytes=cmaf.key_id)
        self.catalog.put_drm_key(video.id, cmaf_id, cmaf.key, DrmScheme.CBCS, master)
        self.catalog.put_drm_key(
            video.id, UUID(bytes=aes.key_id), aes.key, DrmScheme.AES_128, master
        )
        version = new_version()
        base = f"{self.settings.cdn_base_url}/videos/{video.id}/{version}"
        assets = [
            NewStreamAsset(
                width=320,
                height=180,
                bitrate=300_000,
                codec="avc1.64000d,mp4a.40.2",
                format=stream_format,
                cdn_url=f"{base}/stream/{name}",
                drm_key_id=cmaf_id,
            )
            for stream_format, name in (
                (StreamFormat.HLS, "r180.m3u8"),
                (StreamFormat.DASH, "m.mpd"),
            )
        ]
        self.catalog.publish_video(video.id, version, assets, f"{base}/thumbs/poster.jpg", 3.0)
        return Keys(video.id, kid_b64url(cmaf.key_id), cmaf.key, aes.key)


@pytest.fixture
def setup(client: TestClient, catalog: Catalog, api_settings: Settings) -> Iterator[Setup]:
    owner = catalog.create_user(f"owner-{secrets.token_hex(4)}@example.com", "x")
    yield Setup(
        catalog, api_settings, client, Account(owner.id, bearer(catalog, api_settings, owner))
    )


def licence(setup: Setup, kids: list[str], account: Account | None, **extra: object) -> Response:
    headers = account.headers if account else {}
    return setup.client.post(
        LICENSE, json={"kids": kids, "type": "temporary"} | extra, headers=headers
    )


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_subscriber_gets_the_content_key_as_a_jwk(setup: Setup) -> None:
    keys = setup.protected_video()
    subscriber = setup.sign_in(status=SubscriptionStatus.ACTIVE)

    response = licence(setup, [keys.cmaf_kid], subscriber)

    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["type"] == "temporary"
    assert body["keys"] == [
        {
            "kty": "oct",
            "kid": keys.cmaf_kid,
            "k": base64.urlsafe_b64encode(keys.cmaf_key).rstrip(b"=").decode(),
        }
    ]
    stored = setup.catalog.get_drm_key(
        UUID(bytes=b64url_decode(keys.cmaf_kid)), setup.settings.drm_master_key.get_secret_value()
    )
    assert b64url_decode(body["keys"][0]["k"]) == stored.content_key


def test_licence_request_as_a_cdm_sends_it(setup: Setup) -> None:
    """CDMs post the JSON as bytes, not always with a JSON content type."""
    keys = setup.protected_video()
    subscriber = setup.sign_in(status=SubscriptionStatus.ACTIVE)
    raw = json.dumps({"kids": [keys.cmaf_kid], "type": "temporary"}).encode()
    for content_type in (None, "application/octet-stream", "text/plain"):
        headers = dict(subscriber.headers)
        if content_type:
            headers["Content-Type"] = content_type
        response = setup.client.post(LICENSE, content=raw, headers=headers)
        assert response.status_code == 200, (content_type, response.text)
        assert response.json()["keys"][0]["kid"] == keys.cmaf_kid


def test_owner_and_admin_need_no_subscription(setup: Setup) -> None:
    keys = setup.protected_video()
    for account in (setup.owner, setup.sign_in(Role.ADMIN)):
        assert licence(setup, [keys.cmaf_kid], account).status_code == 200
        key = setup.client.get(f"/api/v1/drm/hls-key/{keys.video_id}", headers=account.headers)
        assert (key.status_code, key.content) == (200, keys.aes_key)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, 403),
        (SubscriptionStatus.PAST_DUE, 403),
        (SubscriptionStatus.CANCELED, 403),
        (SubscriptionStatus.INCOMPLETE, 403),
        (SubscriptionStatus.ACTIVE, 200),
    ],
)
def test_only_an_active_subscription_entitles(
    setup: Setup, status: SubscriptionStatus | None, expected: int
) -> None:
    keys = setup.protected_video()
    account = setup.sign_in(status=status)
    response = licence(setup, [keys.cmaf_kid], account)
    assert response.status_code == expected
    if expected == 403:
        assert response.json()["code"] == "not_entitled"
        assert "keys" not in response.json()


def test_free_user_and_anonymous_are_refused(setup: Setup) -> None:
    keys = setup.protected_video()
    free = setup.sign_in()

    refused = licence(setup, [keys.cmaf_kid], free)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_entitled")
    anonymous = licence(setup, [keys.cmaf_kid], None)
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    bad_token = licence(setup, [keys.cmaf_kid], Account(free.id, {"Authorization": "Bearer x.y.z"}))
    assert bad_token.status_code == 401

    key_url = f"/api/v1/drm/hls-key/{keys.video_id}"
    free_key = setup.client.get(key_url, headers=free.headers)
    assert (free_key.status_code, free_key.json()["code"]) == (403, "not_entitled")
    assert setup.client.get(key_url).status_code == 401

    subscriber = setup.sign_in(status=SubscriptionStatus.ACTIVE)
    key = setup.client.get(key_url, headers=subscriber.headers)
    assert key.status_code == 200
    assert key.headers["Content-Type"] == "application/octet-stream"
    assert key.headers["Cache-Control"] == "no-store"
    assert key.content == keys.aes_key and len(key.content) == 16


def test_unknown_and_hidden_keys_look_the_same(setup: Setup) -> None:
    premium = setup.protected_video()
    private = setup.protected_video(Visibility.PRIVATE)
    subscriber = setup.sign_in(status=SubscriptionStatus.ACTIVE)

    unknown = licence(setup, [kid_b64url(secrets.token_bytes(16))], subscriber)
    hidden = licence(setup, [private.cmaf_kid], subscriber)
    assert unknown.status_code == hidden.status_code == 404
    assert unknown.json() == hidden.json()
    # One unknown key among known ones refuses the whole request: nothing is handed out.
    mixed = licence(setup, [premium.cmaf_kid, kid_b64url(secrets.token_bytes(16))], subscriber)
    assert mixed.status_code == 404
    assert licence(setup, [private.cmaf_kid], setup.owner).status_code == 200

    missing_video = setup.client.get(
        f"/api/v1/drm/hls-key/{UUID(int=private.video_id.int ^ 1)}", headers=subscriber.headers
    )
    hidden_video = setup.client.get(
        f"/api/v1/drm/hls-key/{private.video_id}", headers=subscriber.headers
    )
    assert missing_video.status_code == hidden_video.status_code == 404
    assert missing_video.json() == hidden_video.json()


def test_several_kids_and_invalid_requests(setup: Setup) -> None:
    first, second = setup.protected_video(), setup.protected_video()
    subscriber = setup.sign_in(status=SubscriptionStatus.ACTIVE)

    both = licence(setup, [first.cmaf_kid, second.cmaf_kid, first.cmaf_kid], subscriber)
    assert both.status_code == 200
    assert [key["kid"] for key in both.json()["keys"]] == [first.cmaf_kid, second.cmaf_kid]

    for kids in (["not base64!"], [kid_b64url(secrets.token_bytes(16)) + "AA"], []):
        assert licence(setup, kids, subscriber).status_code == 422, kids
    persistent = licence(setup, [first.cmaf_kid], subscriber, type="persistent-license")
    assert persistent.status_code == 422
    garbage = setup.client.post(LICENSE, content=b"\x00\x01", headers=subscriber.headers)
    assert (garbage.status_code, garbage.json()["code"]) == (422, "invalid_request")


def test_public_video_has_no_aes_key(setup: Setup) -> None:
    video = setup.catalog.create_video(setup.owner.id, "Clear", visibility=Visibility.PUBLIC)
    response = setup.client.get(f"/api/v1/drm/hls-key/{video.id}")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_takedown_stops_licences(setup: Setup) -> None:
    keys = setup.protected_video()
    subscriber = setup.sign_in(status=SubscriptionStatus.ACTIVE)
    assert licence(setup, [keys.cmaf_kid], subscriber).status_code == 200

    setup.catalog.take_down_video(keys.video_id, "court order")
    assert licence(setup, [keys.cmaf_kid], subscriber).status_code == 404
    assert licence(setup, [keys.cmaf_kid], setup.owner).status_code == 404
    admin = setup.sign_in(Role.ADMIN)
    assert licence(setup, [keys.cmaf_kid], admin).json()["code"] == "taken_down"

    restored = setup.catalog.restore_video(keys.video_id)
    assert (restored.taken_down_at, restored.takedown_reason) == (None, None)
    assert licence(setup, [keys.cmaf_kid], subscriber).status_code == 200


def test_takedown_needs_a_reason(setup: Setup) -> None:
    keys = setup.protected_video()
    admin = setup.sign_in(Role.ADMIN)
    url = f"/api/v1/admin/videos/{keys.video_id}/takedown"
    assert setup.client.post(url, json={"reason": "   "}, headers=admin.headers).status_code == 422
    assert setup.client.post(url, json={}, headers=admin.headers).status_code == 422
    missing = f"/api/v1/admin/videos/{UUID(int=keys.video_id.int ^ 1)}/takedown"
    assert (
        setup.client.post(missing, json={"reason": "x"}, headers=admin.headers).status_code == 404
    )
