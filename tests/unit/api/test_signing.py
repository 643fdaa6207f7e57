"""Signed URLs: a playback token grants one folder until it expires; upload URLs one upload."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from uuid import UUID

import pytest

from api.signing import Grant, UrlSigner, cdn_key, cdn_url, signed_poster_url
from reelflow.settings import Settings

SECRET = b"unit-test-url-signing-secret"
NOW = 1_800_000_000.0
TTL_S = 600
PREFIX = "videos/8f0c/20261107T101500.000000Z-a1b2c3/"
UPLOAD = UUID("00000000-0000-0000-0000-00000000002a")
# Base64url: flipping a character changes the bytes as long as its top bits change (the last
# character of a 40-byte token also carries four padding bits).
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(SECRET)


@pytest.fixture
def cdn_settings() -> Settings:
    return Settings().model_copy(update={"cdn_base_url": "https://cdn.example/media/"})


def test_a_grant_covers_every_key_at_any_depth_under_its_folder(signer: UrlSigner) -> None:
    grant = signer.sign_prefix(PREFIX.rstrip("/"), TTL_S, now=NOW)
    assert grant.prefix == PREFIX
    assert grant.expires_at == datetime.fromtimestamp(NOW + TTL_S, UTC)
    for key in ("stream/master.m3u8", "stream/r360/segment-00001.m4s", "thumbs/sprite-0.jpg"):
        assert signer.verify(grant.token, PREFIX + key, now=NOW) == (NOW + TTL_S, 0), key
        assert grant.path(PREFIX + key) == f"t/{grant.token}/{PREFIX}{key}"


@pytest.mark.parametrize(
    "key",
    [
        PREFIX.rstrip("/"),  # the folder itself is no object under it
        PREFIX.rstrip("/") + "0/stream/master.m3u8",  # a sibling whose name extends it
        "videos/8f0c/CURRENT",
        "videos/8f0c/20261101T000000.000000Z-000000/stream/master.m3u8",
        "videos/other/stream/master.m3u8",
    ],
)
def test_keys_outside_the_folder_are_refused(signer: UrlSigner, key: str) -> None:
    grant = signer.sign_prefix(PREFIX, TTL_S, now=NOW)
    assert not signer.verify(grant.token, key, now=NOW)
    with pytest.raises(ValueError, match="not under the signed prefix"):
        grant.path(key)


@pytest.mark.parametrize(
    "key",
    [PREFIX + "../x", PREFIX + "stream/../../x", PREFIX + "stream//x", "/" + PREFIX + "stream/x"],
)
def test_keys_that_could_escape_the_folder_are_refused(signer: UrlSigner, key: str) -> None:
    grant = signer.sign_prefix(PREFIX, TTL_S, now=NOW)
    assert not signer.verify(grant.token, key, now=NOW)


def test_a_grant_holds_until_its_last_second(signer: UrlSigner) -> None:
    grant = signer.sign_prefix(PREFIX, TTL_S, now=NOW)
    key = PREFIX + "stream/master.m3u8"
    assert signer.verify(grant.token, key, now=NOW + TTL_S)
    assert not signer.verify(grant.token, key, now=NOW + TTL_S + 1)
    # Signed in the past: already over when it reaches the player.
    stale = signer.sign_prefix(PREFIX, TTL_S, now=NOW - TTL_S - 1)
    assert not signer.verify(stale.token, key, now=NOW)


def test_a_tampered_or_foreign_token_grants_nothing(signer: UrlSigner) -> None:
    grant = signer.sign_prefix(PREFIX, TTL_S, now=NOW)
    key = PREFIX + "stream/master.m3u8"
    for position in range(len(grant.token)):
        other = ALPHABET[(ALPHABET.index(grant.token[position]) + 16) % len(ALPHABET)]
        flipped = grant.token[:position] + other + grant.token[position + 1 :]
        assert not signer.verify(flipped, key, now=NOW), position
    assert not UrlSigner(b"another-deployment").verify(grant.token, key, now=NOW)
    for malformed in ("", grant.token[:-1], grant.token + "A", grant.token[:-1] + "="):
        assert not signer.verify(malformed, key, now=NOW), malformed


def test_grants_need_a_folder_a_lifetime_and_a_secret(signer: UrlSigner) -> None:
    for ttl_s in (0, -1):
        with pytest.raises(ValueError, match="ttl_s must be positive"):
            signer.sign_prefix(PREFIX, ttl_s)
    for prefix in ("", "/"):
        with pytest.raises(ValueError):
            signer.sign_prefix(prefix, TTL_S)
    with pytest.raises(ValueError, match="non-empty secret"):
        UrlSigner(b"")


def test_an_upload_url_is_valid_for_its_upload_until_it_expires(signer: UrlSigner) -> None:
    expires = int(NOW) + TTL_S
    signature = signer.sign_upload(UPLOAD, expires)
    assert signer.check_upload(UPLOAD, str(expires), signature, now=NOW) == Grant.VALID
    assert signer.check_upload(UPLOAD, str(expires), signature, now=expires) == Grant.VALID
    assert signer.check_upload(UPLOAD, str(expires), signature, now=expires + 1) == Grant.EXPIRED


def test_a_forged_upload_url_is_invalid_even_once_expired(signer: UrlSigner) -> None:
    expires = int(NOW) + TTL_S
    signature = signer.sign_upload(UPLOAD, expires)
    forged = [
        (UUID(int=43), str(expires), signature),  # another upload
        (UPLOAD, str(expires + 3600), signature),  # a later expiry
        (UPLOAD, str(expires), UrlSigner(b"another-deployment").sign_upload(UPLOAD, expires)),
        (UPLOAD, str(expires), signature[:-1]),
        (UPLOAD, f"{expires}.0", signature),
        (UPLOAD, "-1", signature),
    ]
    for upload_id, expires_text, forged_signature in forged:
        for now in (NOW, expires + 7200):
            grant = signer.check_upload(upload_id, expires_text, forged_signature, now=now)
            assert grant == Grant.INVALID, (upload_id, expires_text, forged_signature)


def test_an_upload_signature_is_no_playback_token(signer: UrlSigner) -> None:
    upload_signature = signer.sign_upload(UPLOAD, int(NOW) + TTL_S)
    assert not signer.verify(upload_signature, f"{UPLOAD}/source", now=NOW)


def test_cdn_urls_carry_the_grant_and_name_their_key(
    signer: UrlSigner, cdn_settings: Settings
) -> None:
    grant = signer.sign_prefix(PREFIX, TTL_S, now=NOW)
    key = PREFIX + "thumbs/poster image.jpg"
    url = cdn_url(cdn_settings, grant, key)
    assert url == f"https://cdn.example/media/t/{grant.token}/{PREFIX}thumbs/poster%20image.jpg"
    assert (
        cdn_key(cdn_settings, f"https://cdn.example/media/{PREFIX}poster.jpg")
        == PREFIX + "poster.jpg"
    )
    for foreign in (
        "https://elsewhere.example/media/videos/a/poster.jpg",
        "https://cdn.example/mediavideos/a/poster.jpg",
        "https://cdn.example/media/videos/../secrets",
        "https://cdn.example/media/",
    ):
        assert cdn_key(cdn_settings, foreign) is None, foreign


def test_a_poster_is_signed_on_its_own_folder_only(
    signer: UrlSigner, cdn_settings: Settings
) -> None:
    poster = f"https://cdn.example/media/{PREFIX}thumbs/poster.jpg"
    signed = signed_poster_url(cdn_settings, poster, signer)
    assert signed is not None
    token = signed.removeprefix("https://cdn.example/media/t/").split("/", 1)[0]
    assert signer.verify(token, PREFIX + "thumbs/poster.jpg")
    # A premium video's poster is public; its streams are not.
    assert not signer.verify(token, PREFIX + "stream/master.m3u8")
    for unsigned in (None, "https://elsewhere.example/poster.jpg", "https://cdn.example/media/x"):
        assert signed_poster_url(cdn_settings, unsigned, signer) == unsigned
