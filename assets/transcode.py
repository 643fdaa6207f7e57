"""Transcode stage: the adaptive-bitrate ladder, encoded by one ffmpeg process, and its checks."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    MetadataValue,
    asset,
)

from assets.ingest import GROUP, TRANSIENT_RETRY, SourceVideo, video_check, videos
from assets.resources import MediaResource
from media import checks
from media.checks import CheckOutcome
from media.encode import EncodeResult, encode_ladder
from media.ladder import Ladder, plan_ladder

# The share of ffmpeg's progress between two log lines.
PROGRESS_STEP = 0.1


@dataclass(frozen=True)
class Renditions:
    """The planned ladder and the encoded CMAF files (with their HLS and DASH manifests)."""

    source: SourceVideo
    ladder: Ladder
    encoded: EncodeResult


def check_result(outcome: CheckOutcome) -> AssetCheckResult:
    return AssetCheckResult(
        passed=outcome.passed, description=outcome.description, metadata=outcome.metadata
    )


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    pool="transcode",
    kinds={"ffmpeg"},
    op_tags={"reelflow/stage": "transcode"},
)
def renditions(
    context: AssetExecutionContext, source_video: SourceVideo, media: MediaResource
) -> Renditions:
    """H.264/AAC CMAF renditions of every ladder rung, keyframes aligned across rungs."""
    ladder = plan_ladder(source_video.info, segment_s=media.segment_s)
    context.log.info("ladder: " + ", ".join(f"{r.name} {r.width}x{r.height}" for r in ladder.rungs))
    reported = [0.0]

    def progress(fraction: float, line: str) -> None:
        if fraction >= reported[0] + PROGRESS_STEP or fraction >= 1.0 > reported[0]:
            reported[0] = fraction
            context.log.info(f"encode {fraction:.0%}: {line}")

    encoded = encode_ladder(
        source_video.path,
        source_video.info,
        ladder,
        media.video_dir(source_video.video_id) / "encode",
        on_progress=progress,
        preset=media.x264_preset,
    )
    table = (
        "| rung | size | target kbit/s | avg kbit/s | peak kbit/s | bytes |\n"
        "|---|---|---|---|---|---|\n"
    )
    for output in encoded.renditions:
        rung = output.rung
        table += (
            f"| {rung.name} | {rung.width}x{rung.height} | {rung.video_bitrate // 1000} "
            f"| {output.files.average_bitrate // 1000} | {output.files.peak_bitrate // 1000} "
            f"| {output.files.bytes} |\n"
        )
    context.add_output_metadata(
        {
            "ladder": MetadataValue.md(table),
            "rungs": len(ladder.rungs),
            "fps": float(ladder.fps),
            "gop_frames": ladder.gop_frames,
            "segment_s": ladder.segment_duration_s,
            "encode_wall_s": round(encoded.wall_s, 2),
            "speed_x_realtime": round(encoded.speed_x_realtime, 2),
            "total_bytes": encoded.total_bytes,
        }
    )
    return Renditions(source=source_video, ladder=ladder, encoded=encoded)


def _video_streams(result: Renditions) -> dict[str, list[Path]]:
    return {r.rung.name: list(r.files.files) for r in result.encoded.renditions}


def _each_rendition(
    renditions: Renditions, check: Callable[[list[Path]], CheckOutcome]
) -> AssetCheckResult:
    """One check on every rendition's files, passing only if it passes on all of them."""
    return combine({name: check(files) for name, files in _video_streams(renditions).items()})


@video_check(asset=renditions, blocking=True)
def renditions_decode(
    context: AssetCheckExecutionContext, renditions: Renditions
) -> AssetCheckResult:
    """Every rendition (and the audio) decodes end to end without errors."""
    streams = _video_streams(renditions)
    if renditions.encoded.audio is not None:
        streams["audio"] = list(renditions.encoded.audio.files)
    return check_result(checks.decodes_end_to_end(streams))


@video_check(asset=renditions, blocking=True)
def renditions_duration(
    context: AssetCheckExecutionContext, renditions: Renditions
) -> AssetCheckResult:
    """Each rendition lasts as long as the source, within a frame or a quarter second."""
    source_s = renditions.source.info.duration_s
    return _each_rendition(renditions, lambda files: checks.duration_matches(files, source_s))


@video_check(asset=renditions, blocking=True)
def renditions_keyframes(
    context: AssetCheckExecutionContext, renditions: Renditions
) -> AssetCheckResult:
    """Every segment of every rendition starts on a keyframe, so players can switch rungs."""
    segment_s = renditions.ladder.segment_duration_s
    return _each_rendition(
        renditions, lambda files: checks.keyframes_at_segment_boundaries(files, segment_s)
    )


@video_check(asset=renditions, blocking=True)
def renditions_not_upscaled(
    context: AssetCheckExecutionContext, renditions: Renditions
) -> AssetCheckResult:
    """No rung is larger than the source."""
    info = renditions.source.info
    sizes = {r.rung.name: (r.rung.width, r.rung.height) for r in renditions.encoded.renditions}
    # A ladder rounds odd source dimensions up to even ones.
    return check_result(checks.no_upscaling(sizes, (info.width, info.height), rounding_px=1))


@video_check(asset=renditions, blocking=True)
def renditions_quality(
    context: AssetCheckExecutionContext, renditions: Renditions, media: MediaResource
) -> AssetCheckResult:
    """SSIM and PSNR of each rendition against the source, above the configured SSIM floor."""
    source = renditions.source.path
    return _each_rendition(
        renditions,
        lambda files: checks.quality_scores(
            source, files, ssim_floor=media.ssim_floor, max_duration_s=10.0
        ),
    )


def combine(outcomes: dict[str, CheckOutcome]) -> AssetCheckResult:
    failed = {name: o.description for name, o in outcomes.items() if not o.passed}
    metadata: dict[str, Any] = {}
    for name, outcome in outcomes.items():
        for key, value in outcome.metadata.items():
            metadata[f"{name}.{key}"] = value
    description = (
        "; ".join(f"{name}: {text}" for name, text in failed.items())
        if failed
        else f"{len(outcomes)} renditions pass"
    )
    return AssetCheckResult(passed=not failed, description=description, metadata=metadata)
