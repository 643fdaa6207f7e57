"""Thumbnail stage: a poster that is not a black frame, and a scrub sprite with its WebVTT."""

from dagster import AssetExecutionContext, asset

from assets.ingest import GROUP, TRANSIENT_RETRY, SourceVideo, videos
from assets.resources import MediaResource
from media.thumbnails import Thumbnails, make_thumbnails


@asset(group_name=GROUP, partitions_def=videos, retry_policy=TRANSIENT_RETRY, kinds={"ffmpeg"})
def thumbnails(
    context: AssetExecutionContext, source_video: SourceVideo, media: MediaResource
) -> Thumbnails:
    """Poster image, scrub sprite sheets and their WebVTT thumbnail track."""
    info = source_video.info
    made = make_thumbnails(
        source_video.path,
        info.duration_s,
        media.video_dir(source_video.video_id) / "thumbnails",
        source_size=(info.width, info.height),
    )
    context.add_output_metadata(
        {
            "poster_time_s": round(made.poster_time_s, 2),
            "tiles": made.tiles,
            "sprites": len(made.sprites),
            "interval_s": made.interval_s,
            "tile_size": f"{made.tile_width}x{made.tile_height}",
        }
    )
    return made
