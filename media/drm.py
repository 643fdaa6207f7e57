"""Encrypt a clear CMAF ladder for playback under EME (CENC/CBCS) or plain AES-128 HLS.

Two outputs come from one clear ladder:

- `encrypt_cmaf`: one Shaka Packager run over every rendition writes encrypted CMAF segments, a
  static DASH MPD (ContentProtection for `mp4protection` with `cenc:default_KID`, W3C Common
  PSSH and W3C ClearKey) and HLS playlists (`SAMPLE-AES` for cbcs, `SAMPLE-AES-CTR` for cenc).
- `encrypt_hls_aes128`: whole-segment AES-128 over MPEG-TS, for players without EME (ffmpeg
  cannot encrypt fMP4 this way). Streams are copied, never re-encoded.

The content key never lands in the output directory: Packager takes it on its command line,
ffmpeg reads it from a file in a private temporary directory deleted afterwards, and the
playlists only carry a key URI (the API's key endpoint) or the key ID.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from media import tools
from reelflow import layout

if TYPE_CHECKING:
    # For annotations only: media.encode imports media.manifests, which imports this module.
    from media.encode import EncodeResult

StreamKind = Literal["video", "audio"]
Scheme = Literal["cbcs", "cenc"]

KEY_BYTES = 16
# DASH-IF system ID for W3C ClearKey; players map it to the `org.w3.clearkey` key system.
CLEARKEY_SYSTEM_ID = bytes.fromhex("e2719d58a985b3c9781ab030af78d30e")
CLEARKEY_SCHEME_URI = "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e"
CENC_SCHEME_URI = "urn:mpeg:dash:mp4protection:2011"
HLS_METHOD: dict[Scheme, str] = {"cbcs": "SAMPLE-AES", "cenc": "SAMPLE-AES-CTR"}
# Packager's HLS key URI when none is given: the key ID (never the key) in a data URI.
KEY_ID_URI_PREFIX = "data:text/plain;base64,"
# Names become directory and playlist names, so keep them to characters safe in URLs.
STREAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
# 2 ms on 2 s: above any timestamp rounding (ticks of 1/15360 s and finer), under a frame.
CUT_SLOT_MARGIN = 0.001
PACKAGER_TIMEOUT_S = 3600.0
FFMPEG_TIMEOUT_S = 3600.0


class ContentKey(NamedTuple):
    """One content key: 16-byte key ID and key, and the 16-byte constant IV used for cbcs."""

    key_id: bytes
    key: bytes
    iv: bytes


class ClearStream(NamedTuple):
    """One clear rendition: its init segment first (if any), then its media segments in order."""

    files: Sequence[Path]
    kind: StreamKind
    name: str


@dataclass(frozen=True)
class ProtectedPackage:
    """Where `encrypt_cmaf` wrote the encrypted ladder; paths are inside `out_dir`."""

    out_dir: Path
    mpd: Path
    hls_master: Path
    media_playlists: dict[str, Path]
    scheme: Scheme
    key_id_hex: str


@dataclass(frozen=True)
class Aes128Package:
    """Where `encrypt_hls_aes128` wrote the AES-128 HLS variant; paths are inside `out_dir`."""

    out_dir: Path
    master: Path
    media_playlists: dict[str, Path]
    key_uri: str
    iv_hex: str


def new_content_key() -> ContentKey:
    """A fresh random key ID, key and IV."""
    return ContentKey(
        key_id=secrets.token_bytes(KEY_BYTES),
        key=secrets.token_bytes(KEY_BYTES),
        iv=secrets.token_bytes(KEY_BYTES),
    )


def kid_hex(key_id: bytes) -> str:
    """The key ID as 32 lower-case hex digits (Packager's `--keys`, HLS, ffmpeg)."""
    return _checked(key_id, "key ID").hex()


def kid_b64url(key_id: bytes) -> str:
    """The key ID as base64url without padding, as W3C ClearKey JWK sets spell `kid` and `k`."""
    return base64.urlsafe_b64encode(_checked(key_id, "key ID")).rstrip(b"=").decode("ascii")


def kid_uuid(key_id: bytes) -> str:
    """The key ID in the 8-4-4-4-12 form of the MPD's `cenc:default_KID`."""
    h = kid_hex(key_id)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def clearkey_pssh(key_ids: Sequence[bytes]) -> bytes:
    """A version-1 `pssh` box for the ClearKey system listing `key_ids`, with no private data."""
    if not key_ids:
        raise ValueError("a ClearKey pssh needs at least one key ID")
    body = b"\x01\x00\x00\x00" + CLEARKEY_SYSTEM_ID + struct.pack(">I", len(key_ids))
    body += b"".join(_checked(kid, "key ID") for kid in key_ids)
    body += struct.pack(">I", 0)
    return struct.pack(">I", 8 + len(body)) + b"pssh" + body


def clear_streams(result: EncodeResult) -> list[ClearStream]:
    """The renditions of an `encode_ladder` result, named after their rungs, audio last."""
    streams = [
        ClearStream(files=r.files.files, kind="video", name=r.rung.name) for r in result.renditions
    ]
    if result.audio is not None:
        streams.append(ClearStream(files=result.audio.files, kind="audio", name="audio"))
    return streams


def encrypt_cmaf(
    clear_dir: Path,
    renditions: Sequence[ClearStream],
    key: ContentKey,
    out_dir: Path,
    *,
    scheme: Scheme = "cbcs",
    segment_s: float = 2.0,
    hls_key_uri: str | None = None,
    work_dir: Path | None = None,
) -> ProtectedPackage:
    """Encrypt every rendition with `key` in one Shaka Packager run; DASH + HLS into `out_dir`.

    Relative paths in `renditions` are taken from `clear_dir`. Each rendition is handed to
    Packager as its init segment and media segments joined into one fragmented MP4: that is a
    byte copy, not a remux, so the samples and the keyframe-aligned fragment boundaries of the
    encode reach Packager untouched (a progressive MP4 per rung would cost one more ffmpeg pass
    and could move timestamps). The joined files go to a temporary directory under `work_dir`.

    `segment_s` is the ladder's real segment length (`Ladder.segment_duration_s`, 2.002 s at
    29.97 fps); the encrypted segments are the clear ones, GOP for GOP.

    `hls_key_uri` becomes the `URI` of the `identity` `EXT-X-KEY` (a player such as Shaka fetches
    the raw key from it); without it Packager writes a `data:` URI holding the key ID only.
    """
    _checked(key.key_id, "key ID")
    _checked(key.key, "key")
    _check_renditions(renditions)
    if not any(r.kind == "video" for r in renditions):
        raise ValueError("encrypt_cmaf needs at least one video rendition")
    with _scratch_dir(work_dir) as scratch, _replacing(out_dir) as staging:
        descriptors = []
        for rendition in renditions:
            joined = _join(_resolve(clear_dir, rendition.files), scratch / f"{rendition.name}.mp4")
            fields = [
                f"in={joined}",
                f"stream={rendition.kind}",
                f"init_segment={staging / rendition.name / 'init.mp4'}",
                f"segment_template={staging / rendition.name / '$Number$.m4s'}",
                f"playlist_name={rendition.name}.m3u8",
                # One key for every stream: all of them take the empty DRM label.
                "drm_label=",
            ]
            if rendition.kind == "audio":
                fields += ["hls_group_id=audio", f"hls_name={rendition.name}"]
            descriptors.append(",".join(fields))
        cmd: list[str] = [tools.packager(), *descriptors]
        cmd += ["--enable_raw_key_encryption"]
        # The content key goes in a flag file only its owner reads: on the command line, any
        # process of the host would see it in /proc/<pid>/cmdline.
        flags = scratch / "keys.flags"
        flags.touch(mode=0o600)
        flags.write_text(f"--keys=label=:key_id={key.key_id.hex()}:key={key.key.hex()}\n")
        cmd += [f"--flagfile={flags}"]
        cmd += ["--protection_scheme", scheme, "--protection_systems", "CommonSystem"]
        # Packager has no ClearKey protection system; it writes a given pssh box beside the
        # Common PSSH into the init segments and the MPD.
        cmd += ["--pssh", clearkey_pssh([key.key_id]).hex()]
        if scheme == "cbcs":
            # cbcs uses one constant IV per track anyway; a stored one keeps the media segments of
            # a re-run byte for byte the same.
            # cenc keeps Packager's random per-run IVs: reusing an AES-CTR IV with the same key
            # over different samples (a re-encode) would leak plaintext.
            cmd += ["--iv", _checked(key.iv, "IV").hex()]
        cmd += ["--clear_lead", "0", "--segment_duration", _cut_slot(segment_s)]
        cmd += ["--generate_static_live_mpd", "--mpd_output", str(staging / layout.MPD_NAME)]
        cmd += ["--hls_master_playlist_output", str(staging / layout.HLS_MASTER_NAME)]
        cmd += ["--hls_playlist_type", "VOD"]
        if hls_key_uri:
            cmd += ["--hls_key_uri", hls_key_uri]
        tools.run(cmd, timeout=PACKAGER_TIMEOUT_S)
        if scheme == "cenc":
            key_uri = hls_key_uri or KEY_ID_URI_PREFIX + base64.b64encode(key.key_id).decode()
            for rendition in renditions:
                playlist = staging / f"{rendition.name}.m3u8"
                _add_identity_key_tag(playlist, HLS_METHOD[scheme], key_uri)
    return ProtectedPackage(
        out_dir=out_dir,
        mpd=out_dir / layout.MPD_NAME,
        hls_master=out_dir / layout.HLS_MASTER_NAME,
        media_playlists={r.name: out_dir / f"{r.name}.m3u8" for r in renditions},
        scheme=scheme,
        key_id_hex=kid_hex(key.key_id),
    )


def encrypt_hls_aes128(
    clear_dir: Path,
    renditions: Sequence[ClearStream],
    key: bytes,
    key_uri: str,
    out_dir: Path,
    *,
    iv: bytes | None = None,
    segment_s: float = 2.0,
    work_dir: Path | None = None,
) -> Aes128Package:
    """Remux the clear rungs to AES-128-encrypted MPEG-TS HLS in one ffmpeg run (`-c copy`).

    Every video rendition becomes one variant, `<name>/index.m3u8` with `<name>/seg_NNNNN.ts`,
    carrying the first audio rendition muxed in, since players without EME expect muxed TS.
    Playlists name `key_uri` and the IV; the key file ffmpeg reads lives in a private temporary
    directory outside `out_dir` and is deleted when the run ends. Without `iv` a random one is
    drawn; ffmpeg uses it for every segment, and it is not secret. `segment_s` is the ladder's
    real segment length, as for `encrypt_cmaf`.
    """
    _checked(key, "key")
    _check_renditions(renditions)
    videos = [r for r in renditions if r.kind == "video"]
    audios = [r for r in renditions if r.kind == "audio"]
    if not videos:
        raise ValueError("encrypt_hls_aes128 needs at least one video rendition")
    iv = _checked(iv if iv is not None else secrets.token_bytes(KEY_BYTES), "IV")
    # The key file must never sit where the package is published from.
    with tempfile.TemporaryDirectory(prefix="reelflow-hls-key-") as key_tmp:
        key_dir = Path(key_tmp)
        if key_dir.resolve().is_relative_to(out_dir.resolve()):
            raise ValueError("the temporary key directory must be outside out_dir")
        key_file = key_dir / "content.key"
        key_file.write_bytes(key)
        key_info = key_dir / "key_info"
        key_info.write_text(f"{key_uri}\n{key_file}\n{iv.hex()}\n")
        with _scratch_dir(work_dir) as scratch, _replacing(out_dir) as staging:
            inputs = [
                _join(_resolve(clear_dir, r.files), scratch / f"{r.name}.mp4")
                for r in [*videos, *audios[:1]]
            ]
            cmd: list[str] = [tools.ffmpeg(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
            for path in inputs:
                cmd += ["-i", str(path)]
            stream_map = []
            for index, video in enumerate(videos):
                cmd += ["-map", f"{index}:v:0"]
                entry = f"v:{index}"
                if audios:
                    cmd += ["-map", f"{len(videos)}:a:0"]
                    entry += f",a:{index}"
                stream_map.append(f"{entry},name:{video.name}")
            cmd += ["-c", "copy", "-f", "hls", "-hls_time", _cut_slot(segment_s)]
            cmd += ["-hls_playlist_type", "vod", "-hls_segment_type", "mpegts"]
            cmd += ["-hls_key_info_file", str(key_info)]
            cmd += ["-hls_segment_filename", str(staging / "%v" / "seg_%05d.ts")]
            cmd += ["-master_pl_name", layout.HLS_MASTER_NAME]
            cmd += ["-var_stream_map", " ".join(stream_map)]
            cmd += [str(staging / "%v" / "index.m3u8")]
            tools.run(cmd, timeout=FFMPEG_TIMEOUT_S)
    return Aes128Package(
        out_dir=out_dir,
        master=out_dir / layout.HLS_MASTER_NAME,
        media_playlists={v.name: out_dir / v.name / "index.m3u8" for v in videos},
        key_uri=key_uri,
        iv_hex=iv.hex(),
    )


def _add_identity_key_tag(playlist: Path, method: str, key_uri: str) -> None:
    # Packager 3.8 leaves cenc HLS playlists without any EXT-X-KEY ("CENC must be managed by a
    # specific DRM"), so players would take them for clear. Write the tag Packager writes for
    # cbcs, without its IV: cenc carries an IV per sample in the segments.
    lines = playlist.read_text().splitlines()
    if any(line.startswith("#EXT-X-KEY:") for line in lines):
        return
    tag = f'#EXT-X-KEY:METHOD={method},URI="{key_uri}",KEYFORMAT="identity"'
    at = next(
        (i + 1 for i, line in enumerate(lines) if line.startswith("#EXT-X-MAP:")),
        next((i for i, line in enumerate(lines) if line.startswith("#EXTINF:")), len(lines)),
    )
    lines.insert(at, tag)
    playlist.write_text("\n".join(lines) + "\n")


def clear_frame_hashes(files: Sequence[Path], *, select: str | None = None) -> list[str]:
    """`stream:md5` of every decoded frame of one stream given as init + segments, or one file.

    `select` is an ffmpeg stream specifier (`v`, `a:0`) when the file holds several streams.
    """
    return _frame_hashes(files, key=None, select=select)


def decrypt_frame_hashes(
    files: Sequence[Path], key: bytes, *, select: str | None = None
) -> list[str]:
    """Like `clear_frame_hashes` for a CENC/CBCS stream, decrypted with `key` while decoding."""
    return _frame_hashes(files, key=_checked(key, "key"), select=select)


def _frame_hashes(files: Sequence[Path], *, key: bytes | None, select: str | None) -> list[str]:
    with joined_stream(files) as path:
        cmd: list[str] = [tools.ffmpeg(), "-hide_banner", "-nostdin", "-v", "error"]
        if key is not None:
            cmd += ["-decryption_key", key.hex()]
        cmd += ["-i", str(path)]
        if select:
            cmd += ["-map", f"0:{select}"]
        cmd += ["-f", "framemd5", "-"]
        proc = tools.run(cmd, timeout=FFMPEG_TIMEOUT_S)
    hashes = []
    for line in proc.stdout.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = [field.strip() for field in line.split(",")]
        hashes.append(f"{fields[0]}:{fields[-1]}")
    return hashes


@contextmanager
def joined_stream(files: Sequence[Path], work_dir: Path | None = None) -> Iterator[Path]:
    """One readable file for a stream: the file itself, or init + segments joined in a temporary
    directory (under `work_dir`) that is removed on exit."""
    if not files:
        raise ValueError("a stream needs at least one file")
    if len(files) == 1:
        yield Path(files[0])
        return
    with _scratch_dir(work_dir) as scratch:
        yield _join(files, scratch / "joined.mp4")


@contextmanager
def _replacing(out_dir: Path) -> Iterator[Path]:
    """A fresh directory beside `out_dir` that replaces it whole once the block succeeds.

    A re-run then never leaves segments of an older, longer package behind, and a failed run
    leaves the previous package as it was. Manifests hold relative URIs, so the move is safe.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)


@contextmanager
def _scratch_dir(parent: Path | None) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="reelflow-media-", dir=parent) as tmp:
        yield Path(tmp)


def _join(files: Sequence[Path], target: Path) -> Path:
    # CMAF init + media segments concatenated byte for byte form a valid fragmented MP4.
    with target.open("wb") as out:
        for part in files:
            with Path(part).open("rb") as f:
                shutil.copyfileobj(f, out, length=1 << 20)
    return target


def _resolve(base: Path, files: Sequence[Path]) -> list[Path]:
    return [base / f for f in files]


def _cut_slot(segment_s: float) -> str:
    """The segment length to give Packager or ffmpeg's HLS muxer when re-cutting the ladder.

    Both cut at the first keyframe of each `k * length` slot counted from 0. Slots a little
    shorter than the ladder's GOPs put every GOP boundary (2.002 s apart at 29.97 fps, or a tick
    early after timestamp rounding) in a new slot, so segments stay exactly the encode's GOPs;
    slots of exactly the GOP length could merge two GOPs after rounding.
    """
    if segment_s <= 0:
        raise ValueError("segment_s must be positive")
    return f"{segment_s * (1 - CUT_SLOT_MARGIN):.6f}"


def _check_renditions(renditions: Sequence[ClearStream]) -> None:
    if not renditions:
        raise ValueError("no renditions given")
    names = [r.name for r in renditions]
    if len(set(names)) != len(names):
        raise ValueError(f"rendition names must be unique: {names}")
    for r in renditions:
        if not STREAM_NAME.match(r.name):
            raise ValueError(f"rendition name {r.name!r} must match {STREAM_NAME.pattern}")
        if r.kind not in ("video", "audio"):
            raise ValueError(f"rendition {r.name!r} has unknown kind {r.kind!r}")
        if not r.files:
            raise ValueError(f"rendition {r.name!r} has no files")


def _checked(value: bytes, what: str) -> bytes:
    if len(value) != KEY_BYTES:
        raise ValueError(f"{what} must be {KEY_BYTES} bytes, got {len(value)}")
    return value
