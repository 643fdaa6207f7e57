"""Checks that a ladder or package is fit to publish.

Every check is a plain function returning a `CheckOutcome`; Dagster asset checks wrap them and
block publishing when one fails. A stream is given as its files in playback order: the init
segment (if any) first, then the media segments; or a single self-contained file.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from media import drm, tools
from media.manifests import (
    ManifestError,
    is_master_playlist,
    parse_master_playlist,
    parse_media_playlist,
    parse_mpd,
)

DEFAULT_SSIM_FLOOR = 0.90
MIN_DURATION_TOLERANCE_S = 0.25
# A timestamp within this of a frame boundary counts as on it (float rounding in ffprobe output).
EPSILON_S = 0.001
CHECK_TIMEOUT_S = 3600.0
AUDIO_FRAMES_TOLERANCE = 2
AUDIO_SEGMENT_TOLERANCE = 0.05
PACKET_FIELDS = "packet=stream_index,pts_time,duration_time,pos,flags"
_SSIM_ALL = re.compile(r"SSIM .*All:([0-9.]+|inf)")
_PSNR_AVERAGE = re.compile(r"PSNR .*average:([0-9.]+|inf)")


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check: what a Dagster `AssetCheckResult` is built from."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def manifests_resolve(package_dir: Path) -> CheckOutcome:
    """Every file named by the MPDs and HLS playlists under `package_dir` exists inside it.

    URIs with a scheme (`https:`, `data:`, `skd:`) are not files of the package (keys, CDNs) and
    are skipped. A reference that leaves `package_dir` counts as missing: it would not be
    published with the package.
    """
    # Resolved once, so that the paths named in messages are all relative to the same root.
    package_dir = root = package_dir.resolve()
    missing: list[str] = []
    errors: list[str] = []
    checked = 0
    mpds = sorted(package_dir.rglob("*.mpd"))
    masters = []
    for playlist in sorted(package_dir.rglob("*.m3u8")):
        try:
            if is_master_playlist(playlist.read_text()):
                masters.append(playlist)
        except UnicodeDecodeError:
            errors.append(f"{playlist.relative_to(package_dir)}: not text")
    if not mpds and not masters:
        return CheckOutcome(False, f"no MPD or HLS master playlist in {package_dir}", {})

    def check(manifest: Path, uri: str) -> Path | None:
        nonlocal checked
        parts = urlsplit(uri)
        if parts.scheme or parts.netloc:
            return None
        checked += 1
        target = (manifest.parent / unquote(parts.path)).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            missing.append(f"{manifest.relative_to(package_dir)} -> {uri}")
            return None
        return target

    for mpd in mpds:
        try:
            for rep in parse_mpd(mpd.read_text()):
                for uri in rep.uris:
                    check(mpd, uri)
        except ManifestError as exc:
            errors.append(f"{mpd.relative_to(package_dir)}: {exc}")
    for master in masters:
        try:
            playlist_uris = parse_master_playlist(master.read_text()).playlists
        except ManifestError as exc:
            errors.append(f"{master.relative_to(package_dir)}: {exc}")
            continue
        for uri in playlist_uris:
            media_playlist = check(master, uri)
            if media_playlist is None:
                continue
            try:
                for segment in parse_media_playlist(media_playlist.read_text()).uris:
                    check(media_playlist, segment)
            except ManifestError as exc:
                errors.append(f"{media_playlist.relative_to(package_dir)}: {exc}")
    passed = not missing and not errors
    description = (
        f"all {checked} references of {len(mpds)} MPD(s) and {len(masters)} master playlist(s)"
        " resolve"
        if passed
        else f"{len(missing)} of {checked} references missing, {len(errors)} unreadable manifests"
    )
    return CheckOutcome(
        passed,
        description,
        {
            "references": checked,
            "missing": missing,
            "errors": errors,
            "mpds": [str(p.relative_to(package_dir)) for p in mpds],
            "hls_masters": [str(p.relative_to(package_dir)) for p in masters],
        },
    )


def decodes_end_to_end(streams: Mapping[str, Sequence[Path]]) -> CheckOutcome:
    """Every stream (name -> init + segments, or one file) decodes with no ffmpeg error."""
    failures: dict[str, str] = {}
    for name, files in streams.items():
        try:
            with drm.joined_stream(files) as path:
                proc = tools.run(
                    [tools.ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path)]
                    + ["-map", "0", "-f", "null", "-"],
                    check=False,
                    timeout=CHECK_TIMEOUT_S,
                )
        except OSError as exc:
            failures[name] = f"unreadable: {exc}"
            continue
        if proc.returncode != 0 or proc.stderr.strip():
            lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
            failures[name] = lines[0]
    if not streams:
        return CheckOutcome(False, "no streams to decode", {})
    if failures:
        return CheckOutcome(
            False,
            f"{len(failures)} of {len(streams)} streams fail to decode: {', '.join(failures)}",
            {"failures": failures},
        )
    return CheckOutcome(True, f"all {len(streams)} streams decode without errors", {})


def duration_matches(
    files: Sequence[Path], source_duration_s: float, *, tolerance_s: float | None = None
) -> CheckOutcome:
    """The rendition lasts as long as the source, within `max(0.25 s, one frame)` by default."""
    _, packets = _packets(files)
    if not packets:
        return CheckOutcome(False, "the rendition has no packets", {})
    start = min(p.pts for p in packets)
    end = max(p.pts + p.duration for p in packets)
    duration = end - start
    frame = statistics.median(p.duration for p in packets)
    tolerance = tolerance_s if tolerance_s is not None else max(MIN_DURATION_TOLERANCE_S, frame)
    difference = duration - source_duration_s
    passed = abs(difference) <= tolerance
    return CheckOutcome(
        passed,
        f"rendition lasts {duration:.3f} s, source {source_duration_s:.3f} s "
        f"({difference:+.3f} s, tolerance {tolerance:.3f} s)",
        {
            "duration_s": round(duration, 6),
            "source_duration_s": source_duration_s,
            "difference_s": round(difference, 6),
            "tolerance_s": tolerance,
        },
    )


def keyframes_at_segment_boundaries(files: Sequence[Path], segment_s: float) -> CheckOutcome:
    """Each media segment starts with a keyframe, at `i * segment_s`, and is no longer.

    Segments are the files after the init segment; every rung cut this way switches at the same
    instants. One self-contained file instead needs a keyframe at every multiple of `segment_s`.
    """
    paths = [Path(f) for f in files]
    if not paths:
        return CheckOutcome(False, "no files given", {})
    kind, packets = _packets(paths)
    if not packets:
        return CheckOutcome(False, "the stream has no packets", {})
    frame = statistics.median(p.duration for p in packets)
    tolerance = frame + EPSILON_S
    if kind == "audio":
        # Audio frames (21 ms of AAC) rarely land on the video's instants, and muxers cut audio
        # a frame or two either side; players need no tighter alignment for audio.
        tolerance = max(AUDIO_FRAMES_TOLERANCE * frame, AUDIO_SEGMENT_TOLERANCE * segment_s)
    t0 = min(p.pts for p in packets)
    end = max(p.pts + p.duration for p in packets)
    has_init = _is_init_segment(paths[0])
    segment_files = paths[1:] if has_init else paths
    problems: list[str] = []
    if not has_init and len(paths) == 1:
        keyframes = [p.pts for p in packets if p.key]
        instants = [t0 + k * segment_s for k in range(math.ceil((end - t0) / segment_s - 1e-6))]
        for instant in instants:
            if not any(abs(k - instant) <= tolerance for k in keyframes):
                problems.append(f"no keyframe at {instant - t0:.3f} s")
        starts = instants
    else:
        starts = []
        offset = paths[0].stat().st_size if has_init else 0
        by_pos = sorted((p for p in packets if p.pos >= 0), key=lambda p: p.pos)
        cursor = 0
        for index, segment in enumerate(segment_files):
            limit = offset + segment.stat().st_size
            while cursor < len(by_pos) and by_pos[cursor].pos < offset:
                cursor += 1
            first = by_pos[cursor] if cursor < len(by_pos) else None
            offset = limit
            if first is None or first.pos >= limit:
                problems.append(f"segment {index + 1} ({segment.name}) holds no packets")
                continue
            starts.append(first.pts)
            if not first.key:
                problems.append(f"segment {index + 1} ({segment.name}) starts with a non-keyframe")
            expected = t0 + index * segment_s
            if abs(first.pts - expected) > tolerance:
                problems.append(
                    f"segment {index + 1} ({segment.name}) starts at {first.pts - t0:.3f} s, "
                    f"not {expected - t0:.3f} s"
                )
        if starts and end - starts[-1] > segment_s + tolerance:
            problems.append(f"last segment lasts {end - starts[-1]:.3f} s, over {segment_s:g} s")
    passed = not problems
    return CheckOutcome(
        passed,
        f"{len(starts)} segments start with keyframes every {segment_s:g} s"
        if passed
        else f"{len(problems)} segment boundary problems: {problems[0]}",
        {"segments": len(starts), "problems": problems, "segment_s": segment_s},
    )


def no_upscaling(
    renditions: Mapping[str, tuple[int, int]],
    source: tuple[int, int],
    *,
    rounding_px: int = 0,
) -> CheckOutcome:
    """No rendition (name -> width, height) is larger than the source's display size.

    `rounding_px` can forgive the pixel a ladder adds when it rounds an odd dimension up to the
    even size H.264 4:2:0 needs (853 wide scaled by `-2`); `plan_ladder` never does, so 0.
    """
    src_w, src_h = source
    larger = {
        name: f"{w}x{h}"
        for name, (w, h) in renditions.items()
        if w > src_w + rounding_px or h > src_h + rounding_px
    }
    if larger:
        return CheckOutcome(
            False,
            f"{len(larger)} renditions exceed the {src_w}x{src_h} source: "
            + ", ".join(f"{n} {d}" for n, d in larger.items()),
            {"upscaled": larger, "source": f"{src_w}x{src_h}"},
        )
    return CheckOutcome(
        True,
        f"all {len(renditions)} renditions fit in the {src_w}x{src_h} source",
        {"source": f"{src_w}x{src_h}"},
    )


def quality_scores(
    source: Path,
    rendition: Sequence[Path],
    *,
    ssim_floor: float = DEFAULT_SSIM_FLOOR,
    psnr_floor: float | None = None,
    max_duration_s: float | None = None,
) -> CheckOutcome:
    """SSIM and PSNR of a video rendition against the source scaled to the rendition's size.

    Both pictures are compared with square pixels from their first timestamps, so a rendition
    that is shifted, stretched or cropped scores low. `max_duration_s` limits the cost on long
    videos by scoring their start only.
    """
    with drm.joined_stream(rendition) as path:
        width, height = _video_size(path)
        graph = (
            "[0:v:0]setpts=PTS-STARTPTS,setsar=1,split[d1][d2];"
            f"[1:v:0]setpts=PTS-STARTPTS,scale={width}:{height}:flags=bicubic,setsar=1,"
            "split[r1][r2];"
            "[d1][r1]ssim;[d2][r2]psnr"
        )
        cmd: list[str] = [tools.ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-v", "info"]
        cmd += [*tools.local_input(path), *tools.local_input(source), "-filter_complex", graph]
        if max_duration_s is not None:
            cmd += ["-t", f"{max_duration_s:.3f}"]
        cmd += ["-f", "null", "-"]
        proc = tools.run(cmd, timeout=CHECK_TIMEOUT_S)
    ssim_match = _SSIM_ALL.findall(proc.stderr)
    psnr_match = _PSNR_AVERAGE.findall(proc.stderr)
    if not ssim_match or not psnr_match:
        return CheckOutcome(False, "ffmpeg reported no SSIM/PSNR (no frames compared?)", {})
    ssim, psnr = float(ssim_match[-1]), float(psnr_match[-1])
    problems = []
    if ssim < ssim_floor:
        problems.append(f"SSIM {ssim:.4f} < {ssim_floor}")
    if psnr_floor is not None and psnr < psnr_floor:
        problems.append(f"PSNR {psnr:.2f} dB < {psnr_floor}")
    return CheckOutcome(
        not problems,
        f"{width}x{height}: SSIM {ssim:.4f}, PSNR {psnr:.2f} dB"
        + (f" ({'; '.join(problems)})" if problems else ""),
        {
            "ssim": ssim,
            "psnr_db": psnr,
            "ssim_floor": ssim_floor,
            "psnr_floor_db": psnr_floor,
            "size": f"{width}x{height}",
        },
    )


def decrypts_to_clear(
    clear_files: Sequence[Path], encrypted_files: Sequence[Path], key: bytes
) -> CheckOutcome:
    """The encrypted stream decrypted with `key` decodes to the same frames as the clear one."""
    clear = drm.clear_frame_hashes(clear_files)
    try:
        decrypted = drm.decrypt_frame_hashes(encrypted_files, key)
    except tools.MediaToolError as exc:
        return CheckOutcome(False, f"the encrypted stream does not decode: {exc}", {})
    if not clear:
        return CheckOutcome(False, "the clear stream has no frames", {})
    mismatch = next(
        (i for i, (a, b) in enumerate(zip(clear, decrypted, strict=False)) if a != b), None
    )
    metadata = {"clear_frames": len(clear), "decrypted_frames": len(decrypted)}
    if mismatch is None and len(clear) == len(decrypted):
        return CheckOutcome(True, f"all {len(clear)} frames decrypt to the clear frames", metadata)
    if mismatch is None:
        return CheckOutcome(
            False, f"{len(decrypted)} frames decrypted, {len(clear)} in the clear", metadata
        )
    return CheckOutcome(
        False,
        f"decrypted frame {mismatch} differs from the clear one",
        {**metadata, "first_mismatch": mismatch},
    )


@dataclass(frozen=True)
class _Packet:
    pts: float
    duration: float
    pos: int
    key: bool


def _packets(files: Sequence[Path]) -> tuple[str, list[_Packet]]:
    """Kind and packets of the first video stream (else the first stream) of a joined stream."""
    with drm.joined_stream(files) as path:
        proc = tools.run(
            [tools.ffprobe(), "-v", "error", "-of", "json"]
            + ["-show_entries", "stream=index,codec_type:" + PACKET_FIELDS]
            + tools.local_probe_input(path),
            timeout=CHECK_TIMEOUT_S,
        )
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    if not streams:
        return "", []
    chosen = next((s for s in streams if s.get("codec_type") == "video"), streams[0])
    packets = []
    for packet in data.get("packets", []):
        pts = _number(packet.get("pts_time"))
        if packet.get("stream_index") != chosen["index"] or pts is None:
            continue
        pos = str(packet.get("pos", ""))
        packets.append(
            _Packet(
                pts=pts,
                duration=_number(packet.get("duration_time")) or 0.0,
                pos=int(pos) if pos.isdigit() else -1,
                key="K" in packet.get("flags", ""),
            )
        )
    return str(chosen.get("codec_type", "")), packets


def _number(value: object) -> float | None:
    # ffprobe writes "N/A" for unknown values.
    try:
        return float(str(value))
    except ValueError:
        return None


def _is_init_segment(path: Path) -> bool:
    """Whether an MP4 file holds a `moov` and no media (`moof`/`mdat`): a CMAF init segment."""
    boxes = set()
    with path.open("rb") as f:
        while True:
            header = f.read(8)
            if len(header) < 8:
                break
            size, box = int.from_bytes(header[:4], "big"), header[4:8]
            boxes.add(box)
            if size == 1:
                size = int.from_bytes(f.read(8), "big") - 8
            if size < 8:
                break
            f.seek(size - 8, 1)
    return b"moov" in boxes and not boxes & {b"moof", b"mdat"}


def _video_size(path: Path) -> tuple[int, int]:
    proc = tools.run(
        [tools.ffprobe(), "-v", "error", "-select_streams", "v:0", "-of", "json"]
        + ["-show_entries", "stream=width,height", *tools.local_probe_input(path)],
        timeout=CHECK_TIMEOUT_S,
    )
    streams = json.loads(proc.stdout or "{}").get("streams", [])
    if not streams:
        raise tools.MediaToolError([str(path)], -1, "no video stream to score")
    return int(streams[0]["width"]), int(streams[0]["height"])
