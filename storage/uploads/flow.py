"""Opening an upload (the ticket), completing it, and discarding what a deleted video's uploads
hold. A store that takes presigned PUTs gets a multipart upload whose parts the client sends
itself; any other store gets the bytes through the API (`storage.uploads.chunks`)."""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from media.containers import HEAD_BYTES, sniff_container
from storage.catalog import (
    OPEN_UPLOAD_STATUSES,
    Catalog,
    NotFound,
    Upload,
    UploadQuota,
    UploadQuotaExceeded,
    Visibility,
)
from storage.objects import (
    DEFAULT_CONTENT_TYPE,
    MAX_PARTS,
    MIN_PART_BYTES,
    InvalidKey,
    MultipartError,
    ObjectNotFound,
    ObjectStore,
    Part,
)
from storage.uploads.chunks import discard_partial, finish_assembled
from storage.uploads.errors import (
    InvalidPartList,
    NotAVideo,
    UploadConflict,
    UploadTooLarge,
)

SOURCE_PREFIX = "uploads/"
# Declared types a video source may have besides `video/*`; the stored bytes are checked anyway.
ACCEPTED_CONTENT_TYPES = frozenset(
    {DEFAULT_CONTENT_TYPE, "application/mp4", "application/x-matroska", "application/mxf"}
)


@dataclass(frozen=True)
class NewVideo:
    """A video its creator is about to upload, with the size and type of the file declared."""

    owner_id: UUID
    title: str
    size_bytes: int
    content_type: str
    description: str = ""
    tags: Sequence[str] = ()
    visibility: Visibility = Visibility.PRIVATE


@dataclass(frozen=True)
class Ticket:
    """Where the source goes: part `n` (bytes from `(n - 1) * chunk_size`) to `part_urls[n - 1]`
    when the store takes them, else chunks of at most `chunk_size` bytes through the API."""

    upload: Upload
    chunk_size: int
    part_urls: tuple[str, ...] = ()

    @property
    def direct(self) -> bool:
        """True when the client sends the parts to the store itself."""
        return bool(self.part_urls)


def content_type_accepted(content_type: str) -> bool:
    """Whether a declared content type may be a video source."""
    essence = content_type.split(";", 1)[0].strip().lower()
    return essence.startswith("video/") or essence in ACCEPTED_CONTENT_TYPES


def part_size(size_bytes: int, chunk_size: int) -> int:
    """The part size of a multipart upload: within S3's limits, and no smaller than a chunk."""
    return max(MIN_PART_BYTES, chunk_size, math.ceil(size_bytes / MAX_PARTS))


def source_key(video_id: UUID) -> str:
    """A fresh key for an upload of the video's source (the catalog keeps one upload per key)."""
    return f"{SOURCE_PREFIX}{video_id}/source-{secrets.token_hex(6)}"


def open_upload(
    catalog: Catalog,
    store: ObjectStore,
    new: NewVideo,
    *,
    max_bytes: int,
    chunk_size: int,
    quota: UploadQuota | None = None,
) -> Ticket:
    """Create the video and open the upload of its source; the ticket says where bytes go.
    With `quota`, the owner's open uploads are limited (`QuotaExceeded`)."""
    if new.size_bytes > max_bytes:
        raise UploadTooLarge("upload_too_large", f"uploads are at most {max_bytes} bytes")
    if not content_type_accepted(new.content_type):
        raise NotAVideo("unsupported_media_type", f"{new.content_type!r} is not a video")
    video = catalog.create_video(
        new.owner_id,
        new.title,
        description=new.description,
        tags=new.tags,
        visibility=new.visibility,
    )
    try:
        if store.presigned_puts:
            return _open_multipart(catalog, store, video.id, new, chunk_size, quota)
        upload = catalog.create_upload(
            video.id,
            object_key=source_key(video.id),
            size_bytes=new.size_bytes,
            content_type=new.content_type,
            quota=quota,
        )
    except UploadQuotaExceeded as exc:
        catalog.delete_video(video.id)
        raise UploadConflict("upload_quota_exceeded", str(exc)) from exc
    except BaseException:
        # No half-created video: without an upload it could never become anything.
        catalog.delete_video(video.id)
        raise
    return Ticket(upload, chunk_size)


def _open_multipart(
    catalog: Catalog,
    store: ObjectStore,
    video_id: UUID,
    new: NewVideo,
    chunk_size: int,
    quota: UploadQuota | None,
) -> Ticket:
    key = source_key(video_id)
    multipart_id = store.start_multipart(key, DEFAULT_CONTENT_TYPE)
    try:
        upload = catalog.create_upload(
            video_id,
            object_key=key,
            size_bytes=new.size_bytes,
            content_type=new.content_type,
            s3_upload_id=multipart_id,
            quota=quota,
        )
    except BaseException:
        store.abort_multipart(key, multipart_id)
        raise
    size = part_size(new.size_bytes, chunk_size)
    expires_s = max(1, int((upload.expires_at - datetime.now(UTC)).total_seconds()))
    # Each URL signs its part's length: it takes that many bytes, not the 5 GiB S3 allows.
    urls = tuple(
        store.part_url(key, multipart_id, number, expires_s, length)
        for number, length in enumerate(part_lengths(new.size_bytes, size), start=1)
    )
    return Ticket(upload, size, urls)


def part_lengths(size_bytes: int, part_bytes: int) -> list[int]:
    """The length of each part of a file of `size_bytes` sent in parts of `part_bytes`."""
    return [min(part_bytes, size_bytes - start) for start in range(0, size_bytes, part_bytes)]


@dataclass(frozen=True)
class Completed:
    """A completed upload, and the container its file starts like."""

    upload: Upload
    container: str


def complete_upload(
    catalog: Catalog,
    store: ObjectStore,
    partial_dir: Path,
    video_id: UUID,
    parts: Sequence[Part] = (),
) -> Completed:
    """Close the latest upload of a video: its file assembled (from `parts` for a multipart
    upload), of the declared size and starting like a video; the video then awaits ingest.
    A file of another size or kind is deleted and the upload aborted."""
    try:
        upload = catalog.latest_upload(video_id)
    except NotFound:
        raise UploadConflict("no_upload", "the video has no upload to complete") from None
    if upload.status not in OPEN_UPLOAD_STATUSES:
        raise UploadConflict("upload_closed", f"the latest upload is {upload.status}")
    if upload.s3_upload_id is not None:
        # A retry after a lost answer finds the object already assembled.
        if not store.exists(upload.object_key):
            _complete_parts(store, upload, upload.s3_upload_id, parts)
    else:
        finish_assembled(store, partial_dir, upload)
    try:
        size = store.size(upload.object_key)
    except ObjectNotFound:
        raise UploadConflict(
            "upload_incomplete",
            f"{upload.received_bytes} of {upload.size_bytes} bytes have arrived",
            offset=upload.received_bytes,
        ) from None
    if size != upload.size_bytes:
        _discard_source(catalog, store, upload)
        raise UploadConflict(
            "size_mismatch",
            f"the file has {size} bytes, {upload.size_bytes} were declared; start a new upload",
        )
    with store.open_range(upload.object_key, 0, HEAD_BYTES - 1) as head:
        container = sniff_container(head.read())
    if container is None:
        _discard_source(catalog, store, upload)
        raise NotAVideo("unsupported_media_type", "the uploaded file is not a video")
    catalog.record_received(upload.id, size)
    return Completed(catalog.complete_upload(upload.id), container)


def _complete_parts(
    store: ObjectStore, upload: Upload, multipart_id: str, parts: Sequence[Part]
) -> None:
    if not parts:
        raise InvalidPartList("parts_required", "list the ETag of every uploaded part")
    numbers = [part.number for part in parts]
    if len(set(numbers)) != len(numbers):
        raise InvalidPartList("invalid_parts", "a part number is listed twice")
    try:
        store.complete_multipart(upload.object_key, multipart_id, sorted(parts))
    except MultipartError as exc:
        raise UploadConflict(
            "invalid_parts", f"the object store refused the parts ({exc.code})"
        ) from exc


def _discard_source(catalog: Catalog, store: ObjectStore, upload: Upload) -> None:
    catalog.abort_upload(upload.id)
    store.delete(upload.object_key)


def discard_uploads(
    store: ObjectStore, partial_dir: Path, video_id: UUID, uploads: Iterable[Upload]
) -> None:
    """Delete what the uploads of a deleted video hold: partial files, open multipart uploads
    and stored sources."""
    for upload in uploads:
        discard_partial(partial_dir, upload.id)
        if upload.s3_upload_id and upload.status in OPEN_UPLOAD_STATUSES:
            # Left to the sweep if the store refuses now: no catalog row names it any more.
            with contextlib.suppress(MultipartError):
                store.abort_multipart(upload.object_key, upload.s3_upload_id)
        with contextlib.suppress(InvalidKey):
            store.delete(upload.object_key)
    store.delete_prefix(f"{SOURCE_PREFIX}{video_id}")
