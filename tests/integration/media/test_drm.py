"""Encryption of the clear ladder: CENC/CBCS CMAF with Shaka Packager, AES-128 HLS with ffmpeg."""

from __future__ import annotations

import base64
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from media import checks, drm, manifests
from media.tools import MediaToolError
from tests.fixtures.media_drm import HLS_KEY_URI, SEGMENT_S, ClearLadder, EncryptedLadder

NS = {"mpd": manifests.DASH_NS, "cenc": "urn:mpeg:cenc:2013"}
COMMON_SCHEME_URI = "urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
TS_PACKET = 188


def key_spellings(key: bytes) -> list[bytes]:
    """Every form in which a leaked key could sit in a file."""
    return [
        key,
        key.hex().encode(),
        key.hex().upper().encode(),
        base64.b64encode(key).rstrip(b"="),
        base64.urlsafe_b64encode(key).rstrip(b"="),
    ]


def assert_key_absent(out_dir: Path, key: bytes) -> None:
    files = [p for p in out_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for spelling in key_spellings(key):
            assert spelling not in data, f"{path.name} holds the key ({spelling!r})"


# --- pure helpers ---------------------------------------------------------------------------------


def test_new_content_keys_are_random_16_byte_values() -> None:
    first, second = drm.new_content_key(), drm.new_content_key()

    assert {len(first.key_id), len(first.key), len(first.iv)} == {16}
    assert first.key != second.key and first.key_id != second.key_id


def test_key_id_spellings() -> None:
    kid = bytes.fromhex("0123456789abcdef0123456789abcdef")

    assert drm.kid_hex(kid) == "0123456789abcdef0123456789abcdef"
    assert drm.kid_uuid(kid) == "01234567-89ab-cdef-0123-456789abcdef"
    assert drm.kid_b64url(kid) == "ASNFZ4mrze8BI0VniavN7w"
    assert drm.kid_b64url(b"\xfb\xff" * 8) == "-__7__v_-__7__v_-__7_w"  # url alphabet, no "="


def test_wrong_length_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        drm.kid_hex(b"short")


def test_clearkey_pssh_layout() -> None:
    kids = [bytes(range(16)), bytes(range(16, 32))]

    box = drm.clearkey_pssh(kids)

    assert int.from_bytes(box[:4], "big") == len(box) == 8 + 4 + 16 + 4 + 32 + 4
    assert box[4:8] == b"pssh"
    assert box[8] == 1  # version 1: key IDs listed in the box
    assert box[12:28] == drm.CLEARKEY_SYSTEM_ID
    assert int.from_bytes(box[28:32], "big") == 2
    assert box[32:64] == b"".join(kids)
    assert box[64:] == b"\x00\x00\x00\x00"


# --- CENC / CBCS ----------------------------------------------------------------------------------


def test_mpd_is_static_with_cenc_and_clearkey_protection(encrypted_ladder: EncryptedLadder) -> None:
    package, key = encrypted_ladder.package, encrypted_ladder.key
    root = ET.parse(package.mpd).getroot()

    assert root.get("type") == "static"
    adaptation_sets = root.findall(".//mpd:AdaptationSet", NS)
    assert {a.get("contentType") for a in adaptation_sets} == {"video", "audio"}
    for aset in adaptation_sets:
        by_scheme = {cp.get("schemeIdUri"): cp for cp in aset.findall("mpd:ContentProtection", NS)}
        mp4 = by_scheme[drm.CENC_SCHEME_URI]
        assert mp4.get("value") == package.scheme
        assert mp4.get(f"{{{NS['cenc']}}}default_KID") == drm.kid_uuid(key.key_id)
        clearkey_pssh = by_scheme[drm.CLEARKEY_SCHEME_URI].find("cenc:pssh", NS)
        assert clearkey_pssh is not None and clearkey_pssh.text
        assert base64.b64decode(clearkey_pssh.text) == drm.clearkey_pssh([key.key_id])
        assert COMMON_SCHEME_URI in by_scheme


def test_hls_playlists_use_sample_aes_with_the_key_uri(encrypted_ladder: EncryptedLadder) -> None:
    package = encrypted_ladder.package
    master = manifests.parse_master_playlist(package.hls_master.read_text())
    method = drm.HLS_METHOD[package.scheme]

    assert len(master.variants) == 2 and len(master.renditions) == 1
    assert sorted(package.media_playlists) == ["240p", "360p", "audio"]
    for playlist in package.media_playlists.values():
        media = manifests.parse_media_playlist(playlist.read_text())
        assert media.keys, playlist.name
        assert {k["METHOD"] for k in media.keys} == {method}
        assert {k["URI"] for k in media.keys} == {HLS_KEY_URI}
        assert media.ended and len(media.maps) == 1
        assert len(media.segments) == 2


def test_package_never_holds_the_key(encrypted_ladder: EncryptedLadder) -> None:
    assert_key_absent(encrypted_ladder.package.out_dir, encrypted_ladder.key.key)


def test_package_manifests_resolve(encrypted_ladder: EncryptedLadder) -> None:
    outcome = checks.manifests_resolve(encrypted_ladder.package.out_dir)

    assert outcome.passed, outcome.metadata
    # 3 streams x (init + 2 segments), once from the MPD and once from HLS.
    assert outcome.metadata["references"] == 2 * 3 * 3 + 3


@pytest.mark.parametrize("name", ["240p", "360p", "audio"])
def test_encrypted_streams_decrypt_to_the_clear_frames(
    encrypted_ladder: EncryptedLadder, name: str
) -> None:
    clear = encrypted_ladder.clear.stream(name)
    encrypted = next(s for s in encrypted_ladder.streams if s.name == name)

    clear_hashes = drm.clear_frame_hashes(clear.files)
    decrypted = drm.decrypt_frame_hashes(encrypted.files, encrypted_ladder.key.key)

    assert len(clear_hashes) > 10
    assert decrypted == clear_hashes


def test_encrypted_video_does_not_decode_without_the_key(
    encrypted_ladder: EncryptedLadder,
) -> None:
    clear = encrypted_ladder.clear.stream("360p")
    encrypted = next(s for s in encrypted_ladder.streams if s.name == "360p")

    try:
        without_key = drm.clear_frame_hashes(encrypted.files)
    except MediaToolError:
        return
    assert without_key != drm.clear_frame_hashes(clear.files)


def test_cbcs_reuses_the_stored_iv(clear_ladder: ClearLadder, tmp_path: Path) -> None:
    key = drm.new_content_key()
    package = drm.encrypt_cmaf(
        clear_ladder.result.out_dir,
        clear_ladder.streams[:1],
        key,
        tmp_path / "pkg",
        scheme="cbcs",
        segment_s=SEGMENT_S,
    )
    playlist = package.media_playlists[clear_ladder.streams[0].name].read_text()
    (tag,) = manifests.parse_media_playlist(playlist).keys

    assert bytes.fromhex(tag["IV"].removeprefix("0x")) == key.iv
    # Without an hls_key_uri Packager names the key by its ID in a data URI, never the key.
    assert tag["URI"] == "data:text/plain;base64," + base64.b64encode(key.key_id).decode()


def test_encrypt_cmaf_replaces_the_package_and_leaves_no_temporary_files(
    clear_ladder: ClearLadder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    stale = tmp_path / "pkg" / "360p" / "3.m4s"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier, longer package")

    drm.encrypt_cmaf(
        clear_ladder.result.out_dir,
        clear_ladder.streams,
        drm.new_content_key(),
        tmp_path / "pkg",
        scheme="cenc",
    )

    assert list(scratch.iterdir()) == []
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg", "tmp"]  # no staging left


def test_encrypt_cmaf_refuses_bad_renditions(clear_ladder: ClearLadder, tmp_path: Path) -> None:
    stream = clear_ladder.streams[0]
    key = drm.new_content_key()

    with pytest.raises(ValueError, match="unique"):
        drm.encrypt_cmaf(tmp_path, [stream, stream], key, tmp_path / "out")
    with pytest.raises(ValueError, match="must match"):
        drm.encrypt_cmaf(tmp_path, [stream._replace(name="../x")], key, tmp_path / "out")
    with pytest.raises(ValueError, match="video"):
        drm.encrypt_cmaf(tmp_path, [clear_ladder.stream("audio")], key, tmp_path / "out")


# --- AES-128 HLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aes128_package(
    clear_ladder: ClearLadder, tmp_path_factory: pytest.TempPathFactory
) -> tuple[drm.Aes128Package, bytes, Path]:
    key = drm.new_content_key().key
    scratch = tmp_path_factory.mktemp("aes128_tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(scratch))
        package = drm.encrypt_hls_aes128(
            clear_ladder.result.out_dir,
            clear_ladder.streams,
            key,
            HLS_KEY_URI,
            tmp_path_factory.mktemp("aes128") / "hls",
            segment_s=SEGMENT_S,
        )
    return package, key, scratch


def decrypt_segment(data: bytes, key: bytes, iv: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    pad = padded[-1]
    assert 1 <= pad <= 16 and padded[-pad:] == bytes([pad]) * pad  # PKCS#7
    return padded[:-pad]


def segment_iv(key_tag: dict[str, str], media_sequence: int) -> bytes:
    if "IV" in key_tag:
        return bytes.fromhex(key_tag["IV"][2:])
    return media_sequence.to_bytes(16, "big")


def test_aes128_playlists_name_the_key_uri(
    aes128_package: tuple[drm.Aes128Package, bytes, Path],
) -> None:
    package, _, _ = aes128_package
    master = manifests.parse_master_playlist(package.master.read_text())

    assert sorted(package.media_playlists) == ["240p", "360p"]
    assert len(master.variants) == 2
    for playlist in package.media_playlists.values():
        media = manifests.parse_media_playlist(playlist.read_text())
        assert media.keys and {k["METHOD"] for k in media.keys} == {"AES-128"}
        assert {k["URI"] for k in media.keys} == {HLS_KEY_URI}
        assert media.segments and all(s.endswith(".ts") for s in media.segments)
        assert not media.maps
    assert checks.manifests_resolve(package.out_dir).passed


def test_aes128_segments_decrypt_to_transport_streams(
    aes128_package: tuple[drm.Aes128Package, bytes, Path],
) -> None:
    package, key, _ = aes128_package
    playlist = package.media_playlists["360p"]
    text = playlist.read_text()
    media = manifests.parse_media_playlist(text)
    sequence_match = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)
    first_sequence = int(sequence_match.group(1)) if sequence_match else 0

    for offset, segment in enumerate(media.segments):
        data = (playlist.parent / segment).read_bytes()
        assert data[0] != 0x47 or data[TS_PACKET] != 0x47  # not readable as TS as it is
        clear = decrypt_segment(data, key, segment_iv(media.keys[-1], first_sequence + offset))
        assert len(clear) % TS_PACKET == 0
        assert all(clear[i] == 0x47 for i in range(0, len(clear), TS_PACKET))


def test_aes128_video_frames_match_the_clear_rung(
    aes128_package: tuple[drm.Aes128Package, bytes, Path],
    clear_ladder: ClearLadder,
    tmp_path: Path,
) -> None:
    package, key, _ = aes128_package
    playlist = package.media_playlists["240p"]
    media = manifests.parse_media_playlist(playlist.read_text())
    iv = segment_iv(media.keys[-1], 0)
    decrypted = tmp_path / "240p.ts"
    segments = [(playlist.parent / s).read_bytes() for s in media.segments]
    decrypted.write_bytes(b"".join(decrypt_segment(data, key, iv) for data in segments))

    ts_video = drm.clear_frame_hashes([decrypted], select="v")
    ts_audio = drm.clear_frame_hashes([decrypted], select="a")

    assert ts_video == drm.clear_frame_hashes(clear_ladder.stream("240p").files)
    assert len(ts_audio) > 100  # the audio is muxed into every variant


def test_aes128_key_stays_out_of_the_package(
    aes128_package: tuple[drm.Aes128Package, bytes, Path],
) -> None:
    package, key, scratch = aes128_package

    assert_key_absent(package.out_dir, key)
    assert list(scratch.iterdir()) == []  # the key file and joined inputs are gone


def test_aes128_without_audio(clear_ladder: ClearLadder, tmp_path: Path) -> None:
    videos = [s for s in clear_ladder.streams if s.kind == "video"]

    package = drm.encrypt_hls_aes128(
        clear_ladder.result.out_dir, videos, bytes(16), HLS_KEY_URI, tmp_path / "hls"
    )

    assert checks.manifests_resolve(package.out_dir).passed
    media = manifests.parse_media_playlist(package.media_playlists["360p"].read_text())
    assert len(media.segments) == 2
