"""Video metadata and playback grants by visibility, edits, deletion and takedowns, on videos
published by the real media pipeline."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import urljoin
from uuid import UUID

import pytest

from media import manifests
from media.samples import make_clip
from storage.catalog import EncodingStatus, Visibility
from tests.fixtures.api_module import bearer
from tests.fixtures.playback import Account, Published, fetch, get_video, path_of, publish_video

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


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_edit_and_delete(published: Published, tmp_path: Path) -> None:
    p = published
    # A published video of its own to edit and delete, so that the other tests keep theirs.
    source = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=2.0)
    doomed = publish_video(p.settings, p.catalog, p.store, source, Visibility.PUBLIC)
    owner = p.catalog.get_video(doomed).uploaded_by_user_id
    owner_headers = bearer(p.catalog, p.settings, p.catalog.get_user(owner))

    changed = p.client.patch(
        f"/api/v1/videos/{doomed}",
        json={"title": "  New title ", "tags": ["A", "b"], "description": "d"},
        headers=owner_headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["title"], changed.json()["tags"]) == ("New title", ["a", "b"])
    forbidden = p.client.patch(
        f"/api/v1/videos/{doomed}", json={"title": "x"}, headers=p.viewer.headers
    )
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    invalid = p.client.patch(
        f"/api/v1/videos/{doomed}", json={"visibility": "secret"}, headers=owner_headers
    )
    assert invalid.status_code == 422

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
    # The video is shared with other tests: whatever fails, the finally restores it.
    try:
        refused = p.client.post(takedown, json={"reason": "copyright"}, headers=p.owner.headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        taken = p.client.post(takedown, json={"reason": "copyright claim"}, headers=p.admin.headers)
        assert taken.status_code == 200, taken.text
        assert taken.json()["takedown_reason"] == "copyright claim"
        assert taken.json()["taken_down_at"] is not None
        assert taken.json()["playback"] is None
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
    # URLs from before the takedown stay refused; new ones play.
    stale = fetch(p, before["hls_url"])
    assert (stale.status_code, stale.json()["code"]) == (403, "rights_changed")
    assert fetch(p, after["playback"]["hls_url"]).status_code == 200
    assert (
        p.client.post(license_path, json=licence, headers=p.subscriber.headers).status_code == 200
    )
    assert p.client.get(key_path, headers=p.subscriber.headers).status_code == 200


def test_changing_who_may_watch_stops_the_urls_already_handed_out(published: Published) -> None:
    p = published
    before = get_video(p, p.public, None).json()
    assert fetch(p, before["playback"]["hls_url"]).status_code == 200
    assert fetch(p, before["poster_url"]).status_code == 200
    edit = f"/api/v1/videos/{p.public}"
    # The video is shared with other tests: whatever fails, the finally makes it public again.
    try:
        private = p.client.patch(edit, json={"visibility": "private"}, headers=p.owner.headers)
        assert private.status_code == 200, private.text
        for url in (before["playback"]["hls_url"], before["poster_url"]):
            stale = fetch(p, url)
            assert (stale.status_code, stale.json()["code"]) == (403, "rights_changed")
        # The owner's new URLs play.
        owners = get_video(p, p.public, p.owner).json()["playback"]
        assert fetch(p, owners["hls_url"]).status_code == 200
    finally:
        public = p.client.patch(edit, json={"visibility": "public"}, headers=p.owner.headers)
    assert public.status_code == 200
    # Public again: new URLs play, those handed out before stay refused.
    assert fetch(p, get_video(p, p.public, None).json()["playback"]["hls_url"]).status_code == 200
    assert fetch(p, before["playback"]["hls_url"]).status_code == 403
