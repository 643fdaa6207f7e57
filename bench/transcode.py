"""Transcode benchmark: our one-process CMAF ladder against raw ffmpeg making the same ladder.

    .venv/bin/python bench/transcode.py [--duration 30] [--preset veryfast] [--runs 1] [--keep DIR]

Paths, timed in the same run on the same synthetic 1080p30 stereo clip:

- ours: `media.encode.encode_ladder` (what the `renditions` asset runs: one ffmpeg process,
  split filter, CMAF segments with DASH + HLS, playlist and MPD rewrite) followed by the manifest
  parsing of the `packaged_streams` asset.
- raw: one ffmpeg process with the same filter graph and x264 settings writing one plain MP4 per
  rung plus one audio file: the cost of the encode alone, with no DASH/HLS muxing or checks.
- per-rung: one ffmpeg process per rung (and one for the audio), one after another, each
  decoding the source again: the approach the one-process design replaced.

The figure to watch is `ratio ours/raw`: what packaging and the manifest work cost on top of the
bare encode. The machine is shared, so load averages are printed before and after.
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from media import manifests, tools
from media.encode import EncodeResult, encode_ladder
from media.ladder import Ladder, plan_ladder
from media.probe import SourceInfo, probe
from media.samples import make_clip
from reelflow.settings import Settings

WIDTH, HEIGHT, FPS, AUDIO_CHANNELS = 1920, 1080, 30, 2
# The asset's defaults: it encodes with the deployment's preset and segment length.
DEFAULT_PRESET = Settings.model_fields["x264_preset"].default
SEGMENT_S = Settings.model_fields["segment_s"].default
# The raw baseline must give each encoder as many threads as encode_ladder does, or the
# comparison measures thread scheduling rather than packaging.
X264_THREADS = inspect.signature(encode_ladder).parameters["x264_threads"].default
AUDIO_NAME = "audio"


@dataclass(frozen=True)
class Measurement:
    """One timed run of one path: wall time and the bytes it wrote per rung (and audio)."""

    path: str
    wall_s: float
    bytes_by_stream: dict[str, int]
    detail: str = ""


def main() -> None:
    args = _parse_args()
    cores = os.cpu_count() or 1
    print(f"machine: {cores} cores, {_cpu_model()}, {platform.system()} {platform.release()}")
    print("note: the machine is shared; other jobs' load shows in the load averages below")
    print(f"load average at start: {_loadavg()}")
    print(f"ffmpeg: {_ffmpeg_version()}")

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="reelflow-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        source = work / "source.mp4"
        started = time.perf_counter()
        make_clip(
            source,
            width=WIDTH,
            height=HEIGHT,
            duration_s=args.duration,
            fps=FPS,
            audio_channels=AUDIO_CHANNELS,
        )
        made_s = time.perf_counter() - started
        info = probe(source)
        ladder = plan_ladder(info, segment_s=SEGMENT_S)
        print(
            f"source: {info.width}x{info.height} {float(info.fps):g} fps, "
            f"{info.audio_channels} ch audio, {info.duration_s:.2f} s, "
            f"{info.size_bytes} bytes (made in {made_s:.1f} s)"
        )
        print(
            f"ladder: {len(ladder.rungs)} rungs, GOP {ladder.gop_frames} frames "
            f"({ladder.segment_duration_s:g} s segments), audio {ladder.audio_bitrate // 1000} "
            "kbit/s"
        )
        for rung in ladder.rungs:
            print(
                f"  {rung.name:>6} {rung.width}x{rung.height} {rung.video_bitrate // 1000} kbit/s "
                f"(max {rung.maxrate // 1000}, buf {rung.bufsize // 1000}) "
                f"{rung.profile}@{rung.level}"
            )
        print(
            f"settings: preset {args.preset}, x264 threads per encoder {X264_THREADS} "
            f"(ours and raw, as encode_ladder), per-rung x264 threads {_threads(args)}"
        )

        paths: list[tuple[str, Callable[[Path], Measurement]]] = [
            ("ours", lambda out: _ours(source, info, ladder, out, args.preset)),
            ("raw", lambda out: _raw(source, ladder, out, args.preset)),
        ]
        if not args.no_per_rung:
            paths.append(
                (
                    "per-rung",
                    lambda out: _per_rung(source, ladder, out, args.preset, args),
                )
            )
        results: dict[str, list[Measurement]] = {name: [] for name, _ in paths}
        for run in range(args.runs):
            # Rotating the order spreads any warm-up or background-load drift over every path.
            order = paths[run % len(paths) :] + paths[: run % len(paths)]
            for name, measure in order:
                out = work / f"run{run + 1}" / name
                if out.exists():
                    shutil.rmtree(out)
                out.mkdir(parents=True)
                result = measure(out)
                results[name].append(result)
                print(
                    f"run {run + 1}/{args.runs} {name:>8}: {result.wall_s:7.2f} s"
                    + (f"  ({result.detail})" if result.detail else "")
                    + f"  load {_loadavg()}"
                )
        _report(results, ladder, info.duration_s)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end: {_loadavg()}")
    if args.keep:
        print(f"outputs kept in {work}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="clip length in seconds")
    parser.add_argument("--preset", default=DEFAULT_PRESET, help="x264 preset for every path")
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each path")
    parser.add_argument("--keep", metavar="DIR", help="write into DIR and keep the outputs")
    parser.add_argument("--no-per-rung", action="store_true", help="skip the per-rung baseline")
    parser.add_argument(
        "--per-rung-threads",
        type=int,
        default=0,
        help="x264 threads of each per-rung process; 0 lets x264 use every core, since one "
        "single-threaded encoder at a time would leave the other cores idle (default 0)",
    )
    args = parser.parse_args()
    if args.duration <= 0 or args.runs < 1:
        parser.error("--duration must be positive and --runs at least 1")
    return args


def _ours(source: Path, info: SourceInfo, ladder: Ladder, out: Path, preset: str) -> Measurement:
    started = time.perf_counter()
    encoded = encode_ladder(source, info, ladder, out / "encode", preset=preset)
    encoded_s = time.perf_counter() - started
    shared, package_bytes = _package(encoded)
    wall_s = time.perf_counter() - started
    by_stream = {r.rung.name: r.files.bytes for r in encoded.renditions}
    if encoded.audio is not None:
        by_stream[AUDIO_NAME] = encoded.audio.bytes
    detail = (
        f"ffmpeg {encoded.wall_s:.2f} s + manifest rewrite {encoded_s - encoded.wall_s:.2f} s"
        f" + packaging {wall_s - encoded_s:.2f} s; {shared} segments shared by DASH and HLS,"
        f" {package_bytes} bytes in the package"
    )
    return Measurement("ours", wall_s, by_stream, detail)


def _package(encoded: EncodeResult) -> tuple[int, int]:
    """The work of the `packaged_streams` asset (assets/package.py) without its Dagster context:
    parse the HLS master and the MPD, count the segments both name, sum the package's bytes."""
    master = manifests.parse_master_playlist(encoded.hls_master.read_text())
    if not master.variants:
        raise RuntimeError("the HLS master playlist lists no variants")
    dash_files = {
        path.resolve() for stream in manifests.mpd_streams(encoded.mpd) for path in stream.files
    }
    hls_files = {path.resolve() for path in encoded.media_files}
    return len(dash_files & hls_files), encoded.total_bytes


def _x264_options(ladder: Ladder, preset: str, threads: int) -> list[str]:
    """Encoder options shared by every rung, as `media.encode.ffmpeg_command` sets them."""
    gop = ladder.gop_frames
    return [
        *("-c:v", "libx264", "-preset", preset, "-threads:v", str(threads)),
        *("-fps_mode", "cfr", "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"),
        *("-force_key_frames", f"expr:eq(mod(n,{gop}),0)"),
    ]


def _rung_options(ladder: Ladder, index: int) -> list[str]:
    rung = ladder.rungs[index]
    return [
        *("-b:v", str(rung.video_bitrate), "-maxrate:v", str(rung.maxrate)),
        *("-bufsize:v", str(rung.bufsize), "-profile:v", rung.profile, "-level:v", rung.level),
    ]


def _audio_options(ladder: Ladder) -> list[str]:
    return [
        *("-map", "0:a:0", "-c:a", "aac", "-b:a", str(ladder.audio_bitrate)),
        *("-ac", str(ladder.audio_channels), "-ar", str(ladder.audio_sample_rate)),
    ]


def _scale(ladder: Ladder, index: int) -> str:
    rung = ladder.rungs[index]
    return f"scale={rung.width}:{rung.height}:flags=bicubic,setsar=1,format=yuv420p"


def _ffmpeg_head(source: Path) -> list[str]:
    return [tools.ffmpeg(), "-hide_banner", "-nostdin", "-y", "-v", "error", "-i", str(source)]


def _raw(source: Path, ladder: Ladder, out: Path, preset: str) -> Measurement:
    n = len(ladder.rungs)
    graph = [f"[0:v:0]fps={ladder.fps},split={n}" + "".join(f"[s{i}]" for i in range(n))]
    graph += [f"[s{i}]{_scale(ladder, i)}[v{i}]" for i in range(n)]
    cmd = [*_ffmpeg_head(source), "-filter_complex", ";".join(graph)]
    files: dict[str, Path] = {}
    for i, rung in enumerate(ladder.rungs):
        files[rung.name] = out / f"{rung.name}.mp4"
        cmd += ["-map", f"[v{i}]", *_x264_options(ladder, preset, X264_THREADS)]
        cmd += [*_rung_options(ladder, i), "-map_metadata", "-1", str(files[rung.name])]
    if ladder.has_audio:
        files[AUDIO_NAME] = out / f"{AUDIO_NAME}.m4a"
        cmd += [*_audio_options(ladder), "-map_metadata", "-1", str(files[AUDIO_NAME])]
    wall_s = _timed(cmd)
    return Measurement("raw", wall_s, {name: path.stat().st_size for name, path in files.items()})


def _per_rung(
    source: Path, ladder: Ladder, out: Path, preset: str, args: argparse.Namespace
) -> Measurement:
    threads = _threads(args)
    files: dict[str, Path] = {}
    wall_s = 0.0
    for i, rung in enumerate(ladder.rungs):
        files[rung.name] = out / f"{rung.name}.mp4"
        cmd = [
            *_ffmpeg_head(source),
            "-map",
            "0:v:0",
            "-vf",
            f"fps={ladder.fps},{_scale(ladder, i)}",
        ]
        cmd += [*_x264_options(ladder, preset, threads), *_rung_options(ladder, i)]
        cmd += ["-map_metadata", "-1", str(files[rung.name])]
        wall_s += _timed(cmd)
    if ladder.has_audio:
        files[AUDIO_NAME] = out / f"{AUDIO_NAME}.m4a"
        wall_s += _timed(
            [*_ffmpeg_head(source), *_audio_options(ladder), "-map_metadata", "-1"]
            + [str(files[AUDIO_NAME])]
        )
    processes = len(files)
    return Measurement(
        "per-rung",
        wall_s,
        {name: path.stat().st_size for name, path in files.items()},
        f"{processes} processes one after another",
    )


def _threads(args: argparse.Namespace) -> str:
    return str(args.per_rung_threads) if args.per_rung_threads else "auto"


def _timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    tools.run(cmd)
    return time.perf_counter() - started


def _report(results: dict[str, list[Measurement]], ladder: Ladder, duration_s: float) -> None:
    median = {name: statistics.median(m.wall_s for m in runs) for name, runs in results.items()}
    runs = len(next(iter(results.values())))
    label = "wall s" if runs == 1 else f"median wall s of {runs}"
    print()
    print(f"{'path':<10} {label:>20} {'x realtime':>11}  all runs (s)")
    for name, wall in median.items():
        every = ", ".join(f"{m.wall_s:.2f}" for m in results[name])
        print(f"{name:<10} {wall:>20.2f} {duration_s / wall:>11.2f}  {every}")
    print()
    print(f"ratio ours/raw = {median['ours'] / median['raw']:.2f}")
    if "per-rung" in median:
        print(f"ratio per-rung/raw = {median['per-rung'] / median['raw']:.2f}")
        print(f"ratio ours/per-rung = {median['ours'] / median['per-rung']:.2f}")
    print()
    streams = [rung.name for rung in ladder.rungs] + ([AUDIO_NAME] if ladder.has_audio else [])
    names = list(results)
    header = f"{'stream':<8} {'target kbit/s':>13}" + "".join(f" {n + ' bytes':>15}" for n in names)
    print(header + "   (last run; ours counts init + media segments)")
    targets = {rung.name: rung.video_bitrate for rung in ladder.rungs}
    targets[AUDIO_NAME] = ladder.audio_bitrate
    for stream in streams:
        row = f"{stream:<8} {targets[stream] // 1000:>13}"
        for name in names:
            size = results[name][-1].bytes_by_stream.get(stream)
            row += f" {size if size is not None else '-':>15}"
        print(row)
    row = f"{'kbit/s':<8} {sum(targets.values()) // 1000:>13}"
    for name in names:
        total = sum(results[name][-1].bytes_by_stream.values())
        row += f" {round(total * 8 / duration_s / 1000):>15}"
    print(row + "   (all streams, average)")


def _loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ffmpeg_version() -> str:
    first = tools.run([tools.ffmpeg(), "-version"]).stdout.splitlines()[0]
    return f"{first} ({Path(tools.ffmpeg()).name})"


if __name__ == "__main__":
    main()
