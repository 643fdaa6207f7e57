"""Transcode stage: the adaptive-bitrate ladder, encoded by one ffmpeg process, and its checks.

The checks of every media asset run in the asset's own step, on the files it has just made, and
all of them block: a failing one records its result and fails the step, so nothing downstream
(publishing included) runs.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from assets.ingest import (
    GROUP,
    TRANSIENT_RETRY,
    SourceVideo,
    output_prefix,
    store_outputs,
    videos,
)
from assets.queues import HEAVY_STEP
from assets.resources import MediaResource, ObjectStoreResource
from media import checks
from media.checks import CheckOutcome
from media.drm import ClearStream, StreamKind
from media.encode import EncodeResult, StreamFiles, encode_ladder
from media.ladder import Ladder, plan_ladder
from media.probe import SourceInfo

# The share of ffmpeg's progress between two log lines.
PROGRESS_STEP = 0.1


@dataclass(frozen=True)
class Stream:
    """One encoded stream: its HLS media playlist and files (init segment first), by their
    paths relative to the renditions' prefix."""

    name: str
    kind: StreamKind
    playlist: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class Renditions:
    """The planned ladder and its CMAF streams, with their HLS and DASH manifests, stored under
    `prefix`; `videos` follows the ladder's rungs."""

    prefix: str
    ladder: Ladder
    videos: tuple[Stream, ...]
    audio: Stream | None
    mpd: str
    hls_master: str

    @property
    def streams(self) -> tuple[Stream, ...]:
        """Every stream, audio last."""
        return self.videos + ((self.audio,) if self.audio else ())

    def clear_streams(self) -> list[ClearStream]:
        """The streams as the DRM functions take them: files relative to a downloaded copy."""
        return [
            ClearStream(files=[Path(name) for name in s.files], kind=s.kind, name=s.name)
            for s in self.streams
        ]


def blocking_checks(asset: str, descriptions: Mapping[str, str]) -> list[AssetCheckSpec]:
    """The blocking checks (name -> description) an asset evaluates in its own step."""
    return [
        AssetCheckSpec(name, asset=asset, description=description, blocking=True)
        for name, description in descriptions.items()
    ]


def checked(
    value: Any, metadata: Mapping[str, Any], results: list[AssetCheckResult]
) -> Iterator[Output[Any] | AssetCheckResult]:
    """The asset's output and its check results; then, if a check failed, the step fails with
    the failed checks' descriptions as its reason, and is not retried (the same files would
    fail again)."""
    yield Output(value, metadata=dict(metadata))
    yield from results
    failed = [result for result in results if not result.passed]
    if failed:
        raise Failure(
            description="; ".join(f"{r.check_name}: {r.description}" for r in failed),
            metadata={"failed_checks": [r.check_name for r in failed]},
            allow_retries=False,
        )


RENDITION_CHECKS = {
    "renditions_decode": "Every rendition (and the audio) decodes end to end without errors.",
    "renditions_duration": (
        "Each rendition lasts as long as the source, within a frame or a quarter second."
    ),
    "renditions_keyframes": (
        "Every segment of every rendition starts on a keyframe, so players can switch rungs."
    ),
    "renditions_not_upscaled": "No rung is larger than the source.",
    "renditions_quality": (
        "SSIM and PSNR of each rendition against the source, above the configured SSIM floor."
    ),
}


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    pool="transcode",
    kinds={"ffmpeg"},
    op_tags={"reelflow/stage": "transcode", **HEAVY_STEP},
    check_specs=blocking_checks("renditions", RENDITION_CHECKS),
)
def renditions(
    context: AssetExecutionContext,
    source_video: SourceVideo,
    media: MediaResource,
    object_store: ObjectStoreResource,
) -> Iterator[Output[Renditions] | AssetCheckResult]:
    """H.264/AAC CMAF renditions of every ladder rung, keyframes aligned across rungs."""
    ladder = plan_ladder(source_video.info, segment_s=media.segment_s)
    context.log.info("ladder: " + ", ".join(f"{r.name} {r.width}x{r.height}" for r in ladder.rungs))
    reported = [0.0]

    def progress(fraction: float, line: str) -> None:
        if fraction >= reported[0] + PROGRESS_STEP or fraction >= 1.0 > reported[0]:
            reported[0] = fraction
            context.log.info(f"encode {fraction:.0%}: {line}")

    store = object_store.store()
    prefix = output_prefix(context)
    with media.step_dir() as directory:
        source = source_video.fetch(store, directory)
        encoded = encode_ladder(
            source,
            source_video.info,
            ladder,
            directory / "encode",
            on_progress=progress,
            preset=media.x264_preset,
        )
        results = _check_renditions(encoded, ladder, source, source_video.info, media)
        metadata = _ladder_metadata(encoded, ladder)
        store_outputs(store, prefix, encoded.out_dir)
        stored = _stored(encoded, prefix, ladder)
    yield from checked(stored, metadata, results)


def _stored(encoded: EncodeResult, prefix: str, ladder: Ladder) -> Renditions:
    root = encoded.out_dir

    def stream(files: StreamFiles, name: str, kind: StreamKind) -> Stream:
        paths = (files.playlist, *files.files)
        playlist, *names = (path.relative_to(root).as_posix() for path in paths)
        return Stream(name=name, kind=kind, playlist=playlist, files=tuple(names))

    return Renditions(
        prefix=prefix,
        ladder=ladder,
        videos=tuple(stream(r.files, r.rung.name, "video") for r in encoded.renditions),
        audio=stream(encoded.audio, "audio", "audio") if encoded.audio else None,
        mpd=encoded.mpd.relative_to(root).as_posix(),
        hls_master=encoded.hls_master.relative_to(root).as_posix(),
    )


def _ladder_metadata(encoded: EncodeResult, ladder: Ladder) -> dict[str, Any]:
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
    return {
        "ladder": MetadataValue.md(table),
        "rungs": len(ladder.rungs),
        "fps": float(ladder.fps),
        "gop_frames": ladder.gop_frames,
        "segment_s": ladder.segment_duration_s,
        "encode_wall_s": round(encoded.wall_s, 2),
        "speed_x_realtime": round(encoded.speed_x_realtime, 2),
        "total_bytes": encoded.total_bytes,
    }


def _check_renditions(
    encoded: EncodeResult, ladder: Ladder, source: Path, info: SourceInfo, media: MediaResource
) -> list[AssetCheckResult]:
    videos = {r.rung.name: list(r.files.files) for r in encoded.renditions}
    streams = dict(videos)
    if encoded.audio is not None:
        streams["audio"] = list(encoded.audio.files)
    segment_s = ladder.segment_duration_s
    sizes = {r.rung.name: (r.rung.width, r.rung.height) for r in encoded.renditions}

    def each(name: str, check: Callable[[list[Path]], CheckOutcome]) -> AssetCheckResult:
        # One check on every rendition's files, passing only if it passes on all of them.
        return combine({rung: check(files) for rung, files in videos.items()}, name)

    return [
        check_result(checks.decodes_end_to_end(streams), "renditions_decode"),
        each("renditions_duration", lambda files: checks.duration_matches(files, info.duration_s)),
        each(
            "renditions_keyframes",
            lambda files: checks.keyframes_at_segment_boundaries(files, segment_s),
        ),
        # A ladder rounds odd source dimensions up to even ones.
        check_result(
            checks.no_upscaling(sizes, (info.width, info.height), rounding_px=1),
            "renditions_not_upscaled",
        ),
        each(
            "renditions_quality",
            lambda files: checks.quality_scores(
                source, files, ssim_floor=media.ssim_floor, max_duration_s=10.0
            ),
        ),
    ]


def check_result(outcome: CheckOutcome, name: str | None = None) -> AssetCheckResult:
    """The Dagster result of one check's outcome (`name`: the check, when an asset has several)."""
    return AssetCheckResult(
        check_name=name,
        passed=outcome.passed,
        description=outcome.description,
        metadata=outcome.metadata,
    )


def combine(outcomes: dict[str, CheckOutcome], name: str | None = None) -> AssetCheckResult:
    """One check's outcomes on several renditions, passing only if each passes."""
    failed = {part: o.description for part, o in outcomes.items() if not o.passed}
    metadata: dict[str, Any] = {}
    for part, outcome in outcomes.items():
        for key, value in outcome.metadata.items():
            metadata[f"{part}.{key}"] = value
    description = (
        "; ".join(f"{part}: {text}" for part, text in failed.items())
        if failed
        else f"{len(outcomes)} renditions pass"
    )
    return AssetCheckResult(
        check_name=name, passed=not failed, description=description, metadata=metadata
    )
