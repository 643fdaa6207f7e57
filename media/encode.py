"""Encode a source into its whole ladder at once: CMAF segments shared by DASH and HLS.

One ffmpeg process decodes the source once, `split`s the picture to one scaler and libx264
encoder per rung, encodes the audio once (stereo AAC), and lets the DASH muxer write fragmented
MP4 (CMAF) init and media segments together with an MPD and, through `-hls_playlist 1`, HLS
playlists that point at the *same* segment files, so storage is not doubled.

Every rung gets an IDR frame every `ladder.gop_frames` frames and nowhere else, from the same
frame numbers, so segment boundaries line up across rungs and a player can switch at any one.

After ffmpeg, the outputs are checked (the MPD and the HLS playlists list the same files, and
every file exists) and finished for VOD: media playlists get `#EXT-X-PLAYLIST-TYPE:VOD` and lose
ffmpeg's wall-clock `PROGRAM-DATE-TIME` tags, so re-encoding gives identical playlists; the master
playlist is written from the ladder with the codecs found in the MPD and bandwidths measured on
the segments; the MPD's durations are set from the real segments.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from media import tools
from media.ladder import AUDIO_CODECS, Ladder, Rung
from media.manifests import (
    ManifestError,
    MediaPlaylist,
    MpdRepresentation,
    parse_media_playlist,
    parse_mpd,
)
from media.probe import SourceInfo
from reelflow import layout

ProgressCallback = Callable[[float, str], None]

INIT_TEMPLATE = "init-$RepresentationID$.m4s"
MEDIA_TEMPLATE = "seg-$RepresentationID$-$Number%05d$.m4s"
AUDIO_GROUP = "audio"
# Wall-clock tags make every re-encode differ and mean nothing for VOD; the type is re-added.
DROPPED_MEDIA_PLAYLIST_TAGS = ("#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-PLAYLIST-TYPE")
PROGRESS_PERIOD_S = 0.25


class EncodeError(RuntimeError):
    """ffmpeg finished, but its output is not a consistent set of DASH + HLS files."""


@dataclass(frozen=True)
class StreamFiles:
    """The files of one representation: HLS media playlist, init segment and media segments."""

    representation_id: str
    playlist: Path
    init: Path
    segments: tuple[Path, ...]
    segment_durations_s: tuple[float, ...]
    codecs: str

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.init, *self.segments)

    @property
    def bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)

    @property
    def peak_bitrate(self) -> int:
        """Highest bit rate of any one segment, as HLS `BANDWIDTH` wants it."""
        return max(
            math.ceil(path.stat().st_size * 8 / duration)
            for path, duration in zip(self.segments, self.segment_durations_s, strict=True)
        )

    @property
    def average_bitrate(self) -> int:
        media_bytes = sum(path.stat().st_size for path in self.segments)
        return math.ceil(media_bytes * 8 / sum(self.segment_durations_s))


@dataclass(frozen=True)
class RenditionOutput:
    """One encoded rung and its files."""

    rung: Rung
    files: StreamFiles


@dataclass(frozen=True)
class EncodeResult:
    """Where the ladder was written and how fast."""

    out_dir: Path
    mpd: Path
    hls_master: Path
    renditions: tuple[RenditionOutput, ...]
    audio: StreamFiles | None
    wall_s: float
    speed_x_realtime: float

    @property
    def media_files(self) -> tuple[Path, ...]:
        """Every init and media segment, each once."""
        streams = [r.files for r in self.renditions] + ([self.audio] if self.audio else [])
        return tuple(path for stream in streams for path in stream.files)

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.out_dir.iterdir())


def encode_ladder(
    source: Path,
    info: SourceInfo,
    ladder: Ladder,
    out_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
    preset: str = "veryfast",
    x264_threads: int = 1,
) -> EncodeResult:
    """Encode `source` into every rung of `ladder` and write DASH + HLS into `out_dir`.

    `out_dir` is replaced as a whole once everything succeeded, so re-running an encode never
    leaves segments of an older, longer output behind. `on_progress(fraction, line)` receives
    ffmpeg's progress reports, fraction from 0 to 1.

    `x264_threads=1` makes re-encodes bit-identical: x264's VBV rate control (which enforces
    each rung's maxrate) depends on thread timing when an encoder runs several threads. The
    ladder's encoders still run in parallel with each other, one thread each.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        cmd = ffmpeg_command(
            Path(source), info, ladder, work, preset=preset, x264_threads=x264_threads
        )
        _run_with_progress(cmd, info.duration_s * float(ladder.fps), on_progress)
        wall_s = time.monotonic() - started
        _finish_outputs(work, ladder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    work.rename(out_dir)
    renditions, audio = _collect(out_dir, ladder)
    return EncodeResult(
        out_dir=out_dir,
        mpd=out_dir / layout.MPD_NAME,
        hls_master=out_dir / layout.HLS_MASTER_NAME,
        renditions=renditions,
        audio=audio,
        wall_s=wall_s,
        speed_x_realtime=info.duration_s / wall_s if wall_s > 0 else math.inf,
    )


def ffmpeg_command(
    source: Path,
    info: SourceInfo,
    ladder: Ladder,
    out_dir: Path,
    *,
    preset: str = "veryfast",
    x264_threads: int = 1,
) -> list[str]:
    """The single ffmpeg invocation that encodes and packages the whole ladder."""
    n = len(ladder.rungs)
    gop = ladder.gop_frames
    # fps before split: VFR sources become CFR once, and every rung sees the same frame numbers.
    graph = [f"[0:v:0]fps={ladder.fps},split={n}" + "".join(f"[s{i}]" for i in range(n))]
    graph += [
        f"[s{i}]scale={rung.width}:{rung.height}:flags=bicubic,setsar=1,format=yuv420p[v{i}]"
        for i, rung in enumerate(ladder.rungs)
    ]
    cmd = [tools.ffmpeg(), "-hide_banner", "-nostdin", "-y", "-v", "error"]
    cmd += [*tools.local_input(source), "-filter_complex", ";".join(graph)]
    cmd += ["-map_metadata", "-1", "-map_chapters", "-1"]
    for i in range(n):
        cmd += ["-map", f"[v{i}]"]
    cmd += ["-c:v", "libx264", "-preset", preset, "-threads:v", str(x264_threads)]
    cmd += ["-fps_mode", "cfr"]
    cmd += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    # By frame number rather than time: n*GOP never drifts from -g, even at 30000/1001 fps.
    cmd += ["-force_key_frames", f"expr:eq(mod(n,{gop}),0)"]
    for i, rung in enumerate(ladder.rungs):
        cmd += [f"-b:v:{i}", str(rung.video_bitrate), f"-maxrate:v:{i}", str(rung.maxrate)]
        cmd += [f"-bufsize:v:{i}", str(rung.bufsize)]
        cmd += [f"-profile:v:{i}", rung.profile, f"-level:v:{i}", rung.level]
    adaptation_sets = "id=0,streams=v"
    if ladder.has_audio:
        cmd += ["-map", "0:a:0", "-c:a", "aac", "-b:a", str(ladder.audio_bitrate)]
        cmd += ["-ac", str(ladder.audio_channels), "-ar", str(ladder.audio_sample_rate)]
        adaptation_sets += " id=1,streams=a"
    # The muxer cuts at the first keyframe at least seg_duration (in whole microseconds) into a
    # segment; rounding the GOP length down keeps e.g. 60 frames at 2997/100 fps from missing
    # the cut by a fraction of a microsecond and merging two GOPs.
    segment_us = math.floor(gop / ladder.fps * 1_000_000)
    cmd += ["-f", "dash", "-seg_duration", f"{segment_us / 1_000_000:.6f}"]
    cmd += ["-use_template", "1", "-use_timeline", "1", "-hls_playlist", "1"]
    cmd += ["-hls_master_name", layout.HLS_MASTER_NAME, "-adaptation_sets", adaptation_sets]
    cmd += ["-format_options", "movflags=+cmaf"]
    cmd += ["-init_seg_name", INIT_TEMPLATE, "-media_seg_name", MEDIA_TEMPLATE]
    cmd += ["-progress", "pipe:1", "-stats_period", str(PROGRESS_PERIOD_S), "-nostats"]
    cmd.append(str(out_dir / layout.MPD_NAME))
    return cmd


def _run_with_progress(
    cmd: list[str], total_frames: float, on_progress: ProgressCallback | None
) -> None:
    # stderr goes to a file: a pipe nobody reads while we read stdout could fill and block ffmpeg.
    with tempfile.TemporaryFile(mode="w+", errors="replace") as stderr:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=stderr, text=True, errors="replace"
        )
        assert proc.stdout is not None
        try:
            _report_progress(proc.stdout, total_frames, on_progress)
        except BaseException:
            # A failing callback or an interrupt must not leave ffmpeg encoding on its own.
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            returncode = proc.wait()
        if returncode != 0:
            stderr.seek(0)
            raise tools.MediaToolError(cmd, returncode, stderr.read())


def _report_progress(
    lines: Iterable[str], total_frames: float, on_progress: ProgressCallback | None
) -> None:
    block: dict[str, str] = {}
    reported = 0.0
    for raw in lines:
        key, _, value = raw.strip().partition("=")
        block[key] = value
        if key != "progress":
            continue
        # Frames encoded, not out_time: the DASH muxer holds packets back and reports out_time
        # as N/A until it writes a segment.
        fraction = 1.0 if value == "end" else _fraction(block.get("frame", ""), total_frames)
        reported = max(reported, fraction)
        if on_progress is not None:
            line = " ".join(
                f"{k}={block[k]}" for k in ("frame", "out_time", "speed", "progress") if k in block
            )
            on_progress(reported, line)
        block = {}


def _fraction(frames: str, total_frames: float) -> float:
    if not frames.isdigit() or total_frames <= 0:
        return 0.0
    # Capped below 1: only the end report, after the muxer's trailer, means done.
    return min(0.99, int(frames) / total_frames)


def _collect(
    out_dir: Path, ladder: Ladder
) -> tuple[tuple[RenditionOutput, ...], StreamFiles | None]:
    representations = _mpd_representations(out_dir / layout.MPD_NAME)
    streams = {
        rep_id: _stream_files(out_dir, rep_id, rep) for rep_id, rep in representations.items()
    }
    n = len(ladder.rungs)
    expected = {str(i) for i in range(n + (1 if ladder.has_audio else 0))}
    if set(streams) != expected:
        raise EncodeError(f"MPD has representations {sorted(streams)}, expected {sorted(expected)}")
    renditions = tuple(
        RenditionOutput(rung, streams[str(i)]) for i, rung in enumerate(ladder.rungs)
    )
    return renditions, streams[str(n)] if ladder.has_audio else None


def _finish_outputs(work: Path, ladder: Ladder) -> None:
    renditions, audio = _collect(work, ladder)
    streams = [r.files for r in renditions] + ([audio] if audio else [])
    for stream in streams:
        _finish_media_playlist(stream.playlist)
    _write_master(work / layout.HLS_MASTER_NAME, ladder, renditions, audio)
    _finish_mpd(
        work / layout.MPD_NAME,
        duration_s=max(sum(s.segment_durations_s) for s in streams),
        max_segment_s=max(d for s in streams for d in s.segment_durations_s),
    )


def _mpd_representations(mpd_path: Path) -> dict[str, MpdRepresentation]:
    text = mpd_path.read_text()
    mpd_type = ET.fromstring(text).get("type")
    if mpd_type != "static":
        raise EncodeError(f"MPD type is {mpd_type!r}, expected a static VOD manifest")
    try:
        return {rep.id: rep for rep in parse_mpd(text)}
    except ManifestError as exc:
        raise EncodeError(f"{mpd_path.name}: {exc}") from exc


def _stream_files(work: Path, rep_id: str, rep: MpdRepresentation) -> StreamFiles:
    playlist = work / f"media_{rep_id}.m3u8"
    if not playlist.is_file():
        raise EncodeError(f"HLS media playlist {playlist.name} is missing")
    hls = _media_playlist(playlist.read_text())
    # One set of files for both protocols is the point: catch any divergence here.
    if rep.init is None or hls.maps != (rep.init,) or hls.segments != rep.media:
        raise EncodeError(f"HLS and DASH disagree on the files of representation {rep_id}")
    files = [work / rep.init, *(work / name for name in rep.media)]
    missing = [path.name for path in files if not path.is_file()]
    if missing:
        raise EncodeError(f"representation {rep_id} misses files {missing}")
    if not rep.media:
        raise EncodeError(f"representation {rep_id} has no segments")
    return StreamFiles(
        representation_id=rep_id,
        playlist=playlist,
        init=files[0],
        segments=tuple(files[1:]),
        segment_durations_s=hls.durations,
        codecs=rep.codecs,
    )


def _media_playlist(text: str) -> MediaPlaylist:
    try:
        return parse_media_playlist(text)
    except ManifestError as exc:
        raise EncodeError(f"unreadable HLS media playlist: {exc}") from exc


def _finish_media_playlist(playlist: Path) -> None:
    lines = [
        line
        for line in playlist.read_text().splitlines()
        if line.strip() and not line.startswith(DROPPED_MEDIA_PLAYLIST_TAGS)
    ]
    durations = _media_playlist("\n".join(lines)).durations
    # RFC 8216: every EXTINF, rounded to the nearest integer, must be <= the target duration.
    target = max(1, *(math.floor(d + 0.5) for d in durations))
    lines = [
        f"#EXT-X-TARGETDURATION:{target}" if line.startswith("#EXT-X-TARGETDURATION") else line
        for line in lines
    ]
    header_end = next(
        (i + 1 for i, line in enumerate(lines) if line.startswith("#EXT-X-VERSION")), 1
    )
    lines.insert(header_end, "#EXT-X-PLAYLIST-TYPE:VOD")
    if "#EXT-X-ENDLIST" not in lines:
        lines.append("#EXT-X-ENDLIST")
    playlist.write_text("\n".join(lines) + "\n")


def _write_master(
    path: Path,
    ladder: Ladder,
    renditions: tuple[RenditionOutput, ...],
    audio: StreamFiles | None,
) -> None:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="audio",DEFAULT=YES,'
            f'AUTOSELECT=YES,CHANNELS="{ladder.audio_channels}",URI="{audio.playlist.name}"'
        )
    frame_rate = f"{float(ladder.fps):.3f}"
    # Highest quality first: players that ignore BANDWIDTH ordering start with the first entry.
    for rendition in sorted(renditions, key=lambda r: r.rung.video_bitrate, reverse=True):
        rung, files = rendition.rung, rendition.files
        # The encoder's real profile and level (from the MPD) beat the planned ones: fast
        # presets emit Constrained Baseline even when High is asked for.
        video_codecs = files.codecs or rung.codecs.split(",")[0]
        codecs = video_codecs
        bandwidth, average = files.peak_bitrate, files.average_bitrate
        attributes = ""
        if audio is not None:
            codecs += "," + (audio.codecs or AUDIO_CODECS)
            bandwidth += audio.peak_bitrate
            average += audio.average_bitrate
            attributes = f',AUDIO="{AUDIO_GROUP}"'
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={average},"
            f'RESOLUTION={rung.width}x{rung.height},FRAME-RATE={frame_rate},CODECS="{codecs}"'
            + attributes
        )
        lines.append(files.playlist.name)
    path.write_text("\n".join(lines) + "\n")


def _finish_mpd(mpd_path: Path, *, duration_s: float, max_segment_s: float) -> None:
    text = mpd_path.read_text()
    # ffmpeg truncates both durations to a tenth of a second (5.28 s becomes PT5.2S), which
    # would end playback early and understate the longest segment.
    text = re.sub(
        r'mediaPresentationDuration="[^"]*"',
        f'mediaPresentationDuration="PT{duration_s:.3f}S"',
        text,
    )
    text = re.sub(
        r'maxSegmentDuration="[^"]*"', f'maxSegmentDuration="PT{max_segment_s:.3f}S"', text
    )
    # Each rung has its own init segment with its own SPS, so switching needs re-initialisation.
    text = text.replace(' bitstreamSwitching="true"', "")
    mpd_path.write_text(text)
