"""Thumbnail stage: a poster that is not a black frame, and a scrub sprite with its WebVTT."""

from dataclasses import dataclass

from dagster import AssetExecutionContext, asset

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
from media.thumbnails import make_thumbnails


@dataclass(frozen=True)
class ThumbnailFiles:
    """The poster, sprite sheets and WebVTT track stored under `prefix`, by their names."""

    prefix: str
    poster: str
    sprites: tuple[str, ...]
    vtt: str
    poster_time_s: float
    tiles: int
    interval_s: float


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    kinds={"ffmpeg"},
    op_tags=HEAVY_STEP,
)
def thumbnails(
    context: AssetExecutionContext,
    source_video: SourceVideo,
    media: MediaResource,
    object_store: ObjectStoreResource,
) -> ThumbnailFiles:
    """Poster image, scrub sprite sheets and their WebVTT thumbnail track."""
    info = source_video.info
    store = object_store.store()
    prefix = output_prefix(context)
    with media.step_dir() as directory:
        made = make_thumbnails(
            source_video.fetch(store, directory),
            info.duration_s,
            directory / "thumbnails",
            source_size=(info.width, info.height),
        )
        store_outputs(store, prefix, made.poster.parent)
    context.add_output_metadata(
        {
            "poster_time_s": round(made.poster_time_s, 2),
            "tiles": made.tiles,
            "sprites": len(made.sprites),
            "interval_s": made.interval_s,
            "tile_size": f"{made.tile_width}x{made.tile_height}",
        }
    )
    return ThumbnailFiles(
        prefix=prefix,
        poster=made.poster.name,
        sprites=tuple(sprite.name for sprite in made.sprites),
        vtt=made.vtt.name,
        poster_time_s=made.poster_time_s,
        tiles=made.tiles,
        interval_s=made.interval_s,
    )
