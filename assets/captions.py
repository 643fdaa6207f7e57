"""Captions stage: a video's caption tracks, validated and packaged beside its streams.

In a media run, `captions` validates each stored track against the source's duration and
packages it as segmented WebVTT; `published_video` merges the tracks into the manifests of the
version it publishes. When a creator changes the captions of a published video, the API queues
a `caption_update` run (`reelflow.media_runs.CAPTIONS_JOB`) of `captioned_version`: a new
version made from the published one, its segments copied inside the store and only its
manifests written again, so nothing is encoded or encrypted twice and the content keys players
hold stay good. Both publish through `publish_version`.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from uuid import UUID

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetSelection,
    MetadataValue,
    Output,
    asset,
)

from assets.ingest import GROUP, TRANSIENT_RETRY, SourceVideo, output_prefix, store_outputs, videos
from assets.queues import LIGHT_STEP
from assets.resources import CatalogResource, MediaResource, ObjectStoreResource
from assets.transcode import blocking_checks, checked
from media import captions as media_captions
from media import manifests
from reelflow import layout
from storage.catalog import Catalog, NewStreamAsset
from storage.objects import ObjectStore
from storage.objects.keys import new_version

# Versions kept in the object store: the published one and the one before it, which players
# that loaded their manifest just before the switch may still be reading.
KEEP_VERSIONS = 2
CAPTIONS_RESOLVE = "published_captions_resolve"
CAPTION_CHECKS = {
    CAPTIONS_RESOLVE: (
        "Every caption track the published manifests name (HLS subtitle playlists and their "
        "segments, DASH text segments) exists in the published objects."
    ),
}
# The folders of a version whose manifests list the caption tracks.
CAPTIONED_FOLDERS = (layout.STREAM, layout.HLS_AES)
SUBTITLES_TAG = "#EXT-X-MEDIA:TYPE=SUBTITLES"


@dataclass(frozen=True)
class CaptionFiles:
    """Packaged caption tracks under `prefix` (`captions/...`), and the master playlist lines
    and MPD AdaptationSets that name them; empty when the video has no captions."""

    prefix: str
    media_lines: tuple[str, ...] = ()
    adaptation_sets: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


def package_captions(
    context: AssetExecutionContext,
    catalog: Catalog,
    store: ObjectStore,
    media: MediaResource,
    video_id: UUID,
    duration_s: float,
) -> CaptionFiles:
    """The video's stored tracks, each valid for `duration_s`, packaged under the step's prefix.

    A track that no longer fits the video (a shorter source uploaded since) is left out with a
    warning rather than keeping the video from being published.
    """
    prefix = output_prefix(context)
    store.delete_prefix(prefix)
    rows = catalog.list_captions(video_id)
    inputs = []
    with media.step_dir() as directory:
        for row in rows:
            try:
                track = media_captions.parse_captions(store.get_bytes(row.object_key), duration_s)
            except media_captions.CaptionError as exc:
                context.log.warning(f"caption track {row.language} left out: {exc}")
                continue
            path = directory / "in" / f"{row.language}.vtt"
            path.parent.mkdir(exist_ok=True)
            path.write_text(track.webvtt, encoding="utf-8")
            inputs.append(media_captions.TextInput(path, row.language, row.label))
        if not inputs:
            return CaptionFiles(prefix)
        packaged = media_captions.package_text(
            inputs, directory / "text", segment_s=media.segment_s
        )
        store_outputs(store, prefix, packaged.out_dir)
    return CaptionFiles(
        prefix=prefix,
        media_lines=packaged.media_lines,
        adaptation_sets=packaged.adaptation_sets,
        languages=tuple(track.language for track in inputs),
    )


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    kinds={"shaka"},
    op_tags=LIGHT_STEP,
)
def captions(
    context: AssetExecutionContext,
    source_video: SourceVideo,
    catalog: CatalogResource,
    media: MediaResource,
    object_store: ObjectStoreResource,
) -> CaptionFiles:
    """The video's caption tracks, checked against the source's length, as HLS/DASH WebVTT."""
    files = package_captions(
        context,
        catalog.catalog,
        object_store.store(),
        media,
        UUID(source_video.video_id),
        source_video.info.duration_s,
    )
    context.add_output_metadata({"languages": ", ".join(files.languages) or "none"})
    return files


def publish_version(
    store: ObjectStore, video_id: str, folders: Mapping[str, str], files: CaptionFiles
) -> tuple[str, AssetCheckResult]:
    """Copy `folders` (name in the version -> source prefix) into a new version of the video,
    with exactly the caption tracks of `files` in its manifests, and point CURRENT at it if
    every caption object they name is there; the version and that check's result.

    A version that fails the check is removed: it was never current.
    """
    version = new_version()
    base = layout.version_prefix(video_id, version)
    for name, source in folders.items():
        store.copy_prefix(source, f"{base}{name}/")
    for name in CAPTIONED_FOLDERS:
        if name not in folders:
            continue
        folder = f"{base}{name}/"
        # Tracks of the version copied from, when it is a published one.
        store.delete_prefix(f"{folder}{media_captions.CAPTIONS_DIR}/")
        if files.languages:
            store.copy_prefix(files.prefix, folder)
        master = folder + layout.HLS_MASTER_NAME
        text = store.get_bytes(master).decode()
        store.put_bytes(master, media_captions.with_text_master(text, files.media_lines).encode())
        mpd = folder + layout.MPD_NAME
        if store.exists(mpd):
            text = store.get_bytes(mpd).decode()
            merged = media_captions.with_text_mpd(text, files.adaptation_sets)
            store.put_bytes(mpd, merged.encode())
    result = captions_resolve(store, base, [n for n in CAPTIONED_FOLDERS if n in folders], files)
    if result.passed:
        store.point(layout.video_prefix(video_id), version)
    else:
        store.delete_prefix(base)
    return version, result


def captions_resolve(
    store: ObjectStore, base: str, folders: list[str], files: CaptionFiles
) -> AssetCheckResult:
    """Every caption object the manifests of the version at `base` name exists, and each
    manifest names every packaged track."""
    missing: list[str] = []
    named: dict[str, int] = {}
    for name in folders:
        folder = f"{base}{name}/"
        master = store.get_bytes(folder + layout.HLS_MASTER_NAME).decode()
        playlists = [
            _media_uri(line) for line in master.splitlines() if line.startswith(SUBTITLES_TAG)
        ]
        keys = []
        for playlist in playlists:
            key = _join(folder, playlist)
            keys.append(key)
            if store.exists(key):
                parsed = manifests.parse_media_playlist(store.get_bytes(key).decode())
                parent = str(PurePosixPath(playlist).parent)
                keys += [_join(folder, f"{parent}/{uri}") for uri in parsed.uris]
        named[f"{name}/hls"] = len(playlists)
        if store.exists(folder + layout.MPD_NAME):
            texts = [
                rep
                for rep in manifests.parse_mpd(store.get_bytes(folder + layout.MPD_NAME).decode())
                if rep.content_type == "text"
            ]
            keys += [_join(folder, uri) for rep in texts for uri in rep.uris]
            named[f"{name}/dash"] = len(texts)
        missing += [key for key in keys if not store.exists(key)]
    short = {part: count for part, count in named.items() if count != len(files.languages)}
    passed = not missing and not short
    if passed:
        description = f"{len(files.languages)} caption track(s) in {len(named)} manifest(s)"
    else:
        description = f"missing objects {missing[:5]}; tracks named per manifest {short}"
    return AssetCheckResult(
        check_name=CAPTIONS_RESOLVE,
        passed=passed,
        description=description,
        metadata={"languages": ", ".join(files.languages) or "none", "missing": len(missing)},
    )


def _media_uri(line: str) -> str:
    for attribute in line.split(","):
        name, _, value = attribute.partition("=")
        if name == "URI":
            return value.strip('"')
    raise manifests.ManifestError(f"subtitle rendition without a URI: {line}")


def _join(folder: str, relative: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(relative).parts:
        if part == "..":
            parts = parts[:-1]
        elif part != ".":
            parts.append(part)
    return folder + "/".join(parts)


@asset(
    group_name=GROUP,
    partitions_def=videos,
    retry_policy=TRANSIENT_RETRY,
    kinds={"s3"},
    op_tags=LIGHT_STEP,
    check_specs=blocking_checks("captioned_version", CAPTION_CHECKS),
)
def captioned_version(
    context: AssetExecutionContext,
    catalog: CatalogResource,
    media: MediaResource,
    object_store: ObjectStoreResource,
) -> Iterator[Output[str | None] | AssetCheckResult]:
    """A published video again with its current captions, its streams copied, not re-encoded."""
    video_id = context.partition_key
    video = catalog.catalog.get_video(UUID(video_id))
    if video.published_version is None or video.duration_s is None:
        # Its media run, queued or running, packages the captions it finds.
        result = AssetCheckResult(
            check_name=CAPTIONS_RESOLVE, passed=True, description="nothing published yet"
        )
        yield from checked(None, {"published": False}, [result])
        return
    store = object_store.store()
    old = video.published_version
    old_prefix = layout.version_prefix(video_id, old)
    folders = {
        name: f"{old_prefix}{name}/"
        for name in (layout.STREAM, layout.HLS_AES, layout.THUMBS)
        if store.list(f"{old_prefix}{name}/")
    }
    files = package_captions(
        context, catalog.catalog, store, media, video.id, float(video.duration_s)
    )
    version, result = publish_version(store, video_id, folders, files)
    metadata: dict[str, Any] = {
        "version": version,
        "from_version": old,
        "languages": ", ".join(files.languages) or "none",
    }
    if result.passed:
        new_prefix = layout.version_prefix(video_id, version)
        rows = [
            NewStreamAsset(
                width=row.width,
                height=row.height,
                bitrate=row.bitrate,
                codec=row.codec,
                format=row.format,
                cdn_url=row.cdn_url.replace(old_prefix, new_prefix),
                drm_key_id=row.drm_key_id,
            )
            for row in catalog.catalog.list_stream_assets(video.id)
        ]
        poster = (video.thumbnail_url or "").replace(old_prefix, new_prefix)
        catalog.catalog.publish_video(video.id, version, rows, poster, float(video.duration_s))
        removed = store.prune(layout.video_prefix(video_id), keep=KEEP_VERSIONS)
        # Runs of one video never overlap: the video's work objects are this run's.
        store.delete_prefix(layout.video_work_prefix(video_id))
        metadata |= {
            "pruned_versions": len(removed),
            "hls": MetadataValue.url(media.cdn_url(layout.hls_master_key(video_id, version))),
        }
    yield from checked(version, metadata, [result])


# What a caption update materializes: a media asset of the video, but no step of its media
# lifecycle.
CAPTION_UPDATE = AssetSelection.assets(captioned_version)
