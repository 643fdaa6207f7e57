"""The published layout: where a video's objects live in the object store, and their names.

    videos/<video id>/<version>/stream/    CMAF segments, `manifest.mpd`, `master.m3u8` and the
                                           HLS media playlists
                               /hls-aes/   AES-128 HLS (`master.m3u8`) of a premium video
                               /thumbs/    `poster.jpg`, `sprite_001.jpg`..., `thumbnails.vtt`

    uploads/<video id>/captions/<lang>.vtt a caption track, normalised WebVTT; packaged into
                                           `stream/captions/` and `hls-aes/captions/`

    work/<video id>/<run id>/<asset>/      what one step of a media run made, for the steps after
                                           it (they may run on other hosts); the video's whole
                                           `work/<video id>/` goes once a version is published

The pipeline writes these names and the API builds playback URLs and cache rules from them, so
both take them from here. Prefixes end with `/` (a folder, as playback grants sign them); keys
do not.
"""

from __future__ import annotations

from pathlib import PurePath, PurePosixPath
from uuid import UUID

VIDEOS = "videos"
WORK = "work"
UPLOADS = "uploads"
CAPTIONS = "captions"
# The folders of one published version.
STREAM = "stream"
HLS_AES = "hls-aes"
THUMBS = "thumbs"

MPD_NAME = "manifest.mpd"
HLS_MASTER_NAME = "master.m3u8"
POSTER_NAME = "poster.jpg"
SPRITE_PATTERN = "sprite_%03d.jpg"  # ffmpeg's image2 numbering: sprite_001.jpg, sprite_002.jpg…
SPRITE_GLOB = "sprite_*.jpg"
VTT_NAME = "thumbnails.vtt"


def video_prefix(video_id: UUID | str) -> str:
    """`videos/<id>/`: every version of a video, and the pointer to its current one."""
    return f"{VIDEOS}/{_segment(str(video_id), 'video id')}/"


def version_prefix(video_id: UUID | str, version: str) -> str:
    """`videos/<id>/<version>/`: one published version, the folder a playback grant signs."""
    return f"{video_prefix(video_id)}{_segment(version, 'version')}/"


def stream_key(video_id: UUID | str, version: str, path: str | PurePath) -> str:
    """The key of a file of the HLS + DASH package, `path` relative to the package."""
    return _key(video_id, version, STREAM, path)


def hls_master_key(video_id: UUID | str, version: str) -> str:
    """The HLS master playlist of a version."""
    return stream_key(video_id, version, HLS_MASTER_NAME)


def mpd_key(video_id: UUID | str, version: str) -> str:
    """The DASH MPD of a version."""
    return stream_key(video_id, version, MPD_NAME)


def hls_aes_master_key(video_id: UUID | str, version: str) -> str:
    """The master playlist of a premium version's AES-128 HLS, for players without EME."""
    return _key(video_id, version, HLS_AES, HLS_MASTER_NAME)


def thumbs_prefix(video_id: UUID | str, version: str) -> str:
    """`videos/<id>/<version>/thumbs/`: poster, sprites and track, signed apart from the stream."""
    return f"{version_prefix(video_id, version)}{THUMBS}/"


def thumbs_key(video_id: UUID | str, version: str, name: str | PurePath) -> str:
    """The key of a thumbnail file (`POSTER_NAME`, `VTT_NAME`, a sprite sheet)."""
    return _key(video_id, version, THUMBS, name)


def video_work_prefix(video_id: UUID | str) -> str:
    """`work/<id>/`: the working objects of every media run of a video."""
    return f"{WORK}/{_segment(str(video_id), 'video id')}/"


def work_prefix(video_id: UUID | str, run_id: str, asset: str) -> str:
    """`work/<id>/<run id>/<asset>/`: what one asset of one media run made."""
    run = _segment(run_id, "run id")
    return f"{video_work_prefix(video_id)}{run}/{_segment(asset, 'asset')}/"


def _key(video_id: UUID | str, version: str, folder: str, path: str | PurePath) -> str:
    relative = PurePosixPath(path)
    parts = relative.parts
    if not parts or relative.is_absolute() or ".." in parts:
        raise ValueError(f"{str(path)!r} is not a relative path inside the {folder} folder")
    return f"{version_prefix(video_id, version)}{folder}/{relative.as_posix()}"


def _segment(value: str, what: str) -> str:
    # One path segment each: an empty or slashed id would silently name another folder.
    if not value or "/" in value or value in (".", ".."):
        raise ValueError(f"{value!r} is not a {what}")
    return value


def captions_key(video_id: UUID | str, language: str) -> str:
    """`uploads/<id>/captions/<language>.vtt`: a caption track as its creator gave it, normalised.

    Beside the video's sources, not under `work/` (deleted at each publication): every media
    run packages it again, and it goes when the video does.
    """
    video = _segment(str(video_id), "video id")
    return f"{UPLOADS}/{video}/{CAPTIONS}/{_segment(language, 'language')}.vtt"
