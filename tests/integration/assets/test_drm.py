"""The DRM stage: a premium video is published encrypted only (CMAF with ClearKey, AES-128
HLS), its keys kept in the catalog and re-used when it is processed again; other videos are
published in the clear."""

from __future__ import annotations

from storage.catalog import DrmScheme
from tests.fixtures.lifecycle import Lifecycle, Reprocessed

CLEARKEY_SYSTEM_ID = "e2719d58-a985-b3c9-781a-b030af78d30e"  # W3C ClearKey


def test_premium_videos_are_published_encrypted_and_others_in_the_clear(
    published_clip: Lifecycle,
) -> None:
    clip = published_clip
    settings = clip.platform.settings
    published = clip.published
    protected = clip.metadata("protected_streams")
    assert protected["protected"] is clip.premium
    if clip.premium:
        assert {k.scheme.value for k in clip.keys} == {settings.drm_scheme, "aes-128"}
        assert all(a.drm_key_id is not None for a in clip.assets)
        by_scheme = {k.scheme: str(k.key_id) for k in clip.keys}
        assert protected["key_id"] == by_scheme[DrmScheme(settings.drm_scheme)]
        assert protected["aes128_key_id"] == by_scheme[DrmScheme.AES_128]
        assert {str(a.drm_key_id) for a in clip.assets} == {protected["key_id"]}
        mpd = next(published.glob("stream/*.mpd")).read_text()
        assert CLEARKEY_SYSTEM_ID in mpd
        hls_aes = "".join(p.read_text() for p in (published / "hls-aes").rglob("*.m3u8"))
        assert "METHOD=AES-128" in hls_aes
        key_uri = f"{settings.api_base_url}/api/v1/drm/hls-key/{clip.video_id}"
        assert protected["aes128_key_uri"] == key_uri and key_uri in hls_aes
        for stored in clip.keys:
            content = clip.platform.catalog.get_drm_key(
                stored.key_id, settings.drm_master_key.get_secret_value()
            ).content_key
            for path in published.rglob("*"):
                if path.is_file():
                    data = path.read_bytes()
                    assert content not in data and content.hex().encode() not in data, path
    else:
        assert clip.keys == []
        assert all(a.drm_key_id is None for a in clip.assets)
        assert not any(published.glob("hls-aes"))


def test_the_protected_streams_pass_their_checks(published_clip: Lifecycle) -> None:
    assert published_clip.checks("protected_streams") == {
        "protected_manifests_resolve": True,
        "protected_decrypts_to_clear": True,
    }


def test_processing_again_reuses_the_videos_keys(republished_clip: Reprocessed) -> None:
    first = republished_clip.first
    # Players holding a licence for the previous version can still play it.
    assert len(republished_clip.keys) == len(first.keys)
    assert {k.key_id for k in republished_clip.keys} == {k.key_id for k in first.keys}
    assert {a.drm_key_id for a in republished_clip.assets} == {a.drm_key_id for a in first.assets}
