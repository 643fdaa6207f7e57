"""Uploads through the API, for stores that take no presigned PUTs: chunks with `Content-Range`.

A chunk must start where the received bytes end; `upload_offset` tells that offset, so an
interrupted upload continues where it stopped. Chunks append to a partial file named after the
upload, locked while a chunk arrives; when the last byte arrives the file moves into the store
at the upload's key in one step, so the store never holds half a source.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from uuid import UUID

from storage.catalog import OPEN_UPLOAD_STATUSES, Catalog, NotFound, Upload, UploadStatus
from storage.objects import ObjectStore
from storage.uploads.errors import (
    InvalidChunk,
    LargerThanDeclared,
    UploadConflict,
    UploadExpired,
    UploadNotFound,
    UploadTooLarge,
    resume_at,
)

PARTIAL_SUFFIX = ".part"
_CONTENT_RANGE = re.compile(r"bytes (\d{1,15})-(\d{1,15})/(\d{1,15})")


@dataclass(frozen=True)
class ContentRange:
    """The bytes `first` to `last` (inclusive) of a file of `total` bytes."""

    first: int
    last: int
    total: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


def parse_content_range(header: str | None) -> ContentRange:
    """The chunk a `Content-Range: bytes a-b/total` header names; `InvalidChunk` if none."""
    match = _CONTENT_RANGE.fullmatch((header or "").strip())
    if match is None:
        raise InvalidChunk(
            "invalid_content_range", "send the chunk with Content-Range: bytes a-b/total"
        )
    first, last, total = (int(group) for group in match.groups())
    if first > last or last >= total:
        raise InvalidChunk("invalid_content_range", f"{header!r} is not a byte range of the file")
    return ContentRange(first, last, total)


@dataclass(frozen=True)
class Progress:
    """How many bytes of an upload through the API have arrived: where the next chunk starts."""

    upload: Upload
    offset: int

    @property
    def complete(self) -> bool:
        """Every byte has arrived; the upload can be completed."""
        return self.offset == self.upload.size_bytes


def partial_file(directory: Path, upload_id: UUID) -> Path:
    """Where the received bytes of an upload through the API gather until the last one arrives."""
    return directory / f"{upload_id}{PARTIAL_SUFFIX}"


def discard_partial(directory: Path, upload_id: UUID) -> None:
    """Remove the bytes received so far of an upload that will not be finished."""
    with contextlib.suppress(FileNotFoundError):
        partial_file(directory, upload_id).unlink()


def receiving_upload(catalog: Catalog, upload_id: UUID) -> Upload:
    """The upload, if it still takes bytes."""
    try:
        upload = catalog.get_upload(upload_id)
    except NotFound:
        raise UploadNotFound("not_found", "upload not found") from None
    if upload.status == UploadStatus.EXPIRED or upload.expires_at <= datetime.now(UTC):
        raise UploadExpired("upload_expired", "the upload has expired; start a new upload")
    if upload.status not in OPEN_UPLOAD_STATUSES:
        raise UploadConflict("upload_closed", f"the upload is {upload.status}")
    return upload


def upload_offset(
    catalog: Catalog, store: ObjectStore, partial_dir: Path, upload_id: UUID
) -> Progress:
    """Where the next chunk of an open upload starts: the bytes both on disk and recorded."""
    upload = receiving_upload(catalog, upload_id)
    try:
        on_disk = partial_file(partial_dir, upload.id).stat().st_size
    except FileNotFoundError:
        # Either the finished file already moved into the store, or nothing arrived yet.
        finished = upload.received_bytes == upload.size_bytes and store.exists(upload.object_key)
        return Progress(upload, upload.size_bytes if finished else 0)
    return Progress(upload, min(on_disk, upload.received_bytes))


class Chunk:
    """A chunk being received into its upload's locked partial file: `write` the body as it
    arrives, then `finish`. Closing a chunk that did not finish drops what it wrote."""

    def __init__(
        self,
        catalog: Catalog,
        store: ObjectStore,
        upload: Upload,
        span: ContentRange,
        path: Path,
        file: BinaryIO,
    ) -> None:
        self.upload = upload
        self.span = span
        self.received = 0
        self._catalog = catalog
        self._store = store
        self._path = path
        self._file = file
        self._recorded = False

    @property
    def remaining(self) -> int:
        """Body bytes still expected."""
        return self.span.length - self.received

    def write(self, data: bytes) -> None:
        """Append body bytes; `InvalidChunk` once the body is longer than announced."""
        self.received += len(data)
        if self.received > self.span.length:
            raise self._length_mismatch()
        self._file.write(data)

    def finish(self) -> Progress:
        """Record the whole chunk; the last one moves the assembled file into the store."""
        if self.received != self.span.length:
            raise self._length_mismatch()
        self._file.flush()
        os.fsync(self._file.fileno())
        end = self.span.last + 1
        upload = self._catalog.record_received(self.upload.id, end)
        self._recorded = True
        if end == upload.size_bytes:
            self._store.move_file(upload.object_key, self._path)
        return Progress(upload, end)

    def close(self) -> None:
        """Release the lock; bytes of a chunk that was not recorded are cut off again."""
        if self._file.closed:
            return
        try:
            if not self._recorded:
                self._file.truncate(self.span.first)
        finally:
            self._file.close()

    def __enter__(self) -> Chunk:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _length_mismatch(self) -> InvalidChunk:
        return InvalidChunk(
            "chunk_length_mismatch",
            f"Content-Range announced {self.span.length} bytes, the body had {self.received}",
            **resume_at(self.span.first, self.upload),
        )


def receive_chunk(
    catalog: Catalog,
    store: ObjectStore,
    partial_dir: Path,
    upload_id: UUID,
    content_range: str | None,
    *,
    max_bytes: int,
) -> Chunk:
    """Start receiving a chunk of an open upload: checked against the upload, its partial file
    locked and cut back to the recorded offset, where the chunk must start."""
    upload = receiving_upload(catalog, upload_id)
    span = parse_content_range(content_range)
    if span.total != upload.size_bytes:
        refusal = LargerThanDeclared if span.total > upload.size_bytes else UploadConflict
        raise refusal(
            "size_mismatch",
            f"the upload was declared as {upload.size_bytes} bytes, not {span.total}",
            length=upload.size_bytes,
        )
    if span.length > max_bytes:
        raise UploadTooLarge("chunk_too_large", f"chunks are at most {max_bytes} bytes")
    _refuse_finished(upload)
    path = partial_file(partial_dir, upload.id)
    file = _locked_partial(path)
    try:
        # Read again under the lock: the chunk before may have finished the upload meanwhile.
        upload = catalog.get_upload(upload.id)
        if upload.received_bytes == upload.size_bytes:
            _settle_finished(store, upload, path, file)
            _refuse_finished(upload)
        offset = min(os.fstat(file.fileno()).st_size, upload.received_bytes)
        if span.first != offset:
            raise UploadConflict(
                "offset_mismatch",
                f"the next chunk starts at byte {offset}, not {span.first}",
                **resume_at(offset, upload),
            )
        # Bytes past the recorded offset are the tail of a chunk that never completed.
        file.truncate(offset)
        file.seek(offset)
    except BaseException:
        file.close()
        raise
    return Chunk(catalog, store, upload, span, path, file)


def _locked_partial(path: Path) -> BinaryIO:
    """The partial file, created if missing, locked against a concurrent chunk of the same
    upload (which would interleave bytes); closing it releases the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UploadConflict(
            "upload_busy", "another chunk of this upload is being received"
        ) from None
    return os.fdopen(fd, "r+b")


def _refuse_finished(upload: Upload) -> None:
    if upload.received_bytes == upload.size_bytes:
        raise UploadConflict(
            "upload_finished",
            "every byte has arrived; complete the upload",
            **resume_at(upload.size_bytes, upload),
        )


def _settle_finished(store: ObjectStore, upload: Upload, path: Path, partial: BinaryIO) -> None:
    """Under the lock, for an upload whose every byte is recorded: move a fully assembled file
    that a crash left behind into the store, and drop an empty one the lock just created."""
    size = os.fstat(partial.fileno()).st_size
    if size == upload.size_bytes and not store.exists(upload.object_key):
        store.move_file(upload.object_key, path)
    elif size == 0:
        path.unlink(missing_ok=True)


def finish_assembled(store: ObjectStore, partial_dir: Path, upload: Upload) -> None:
    """Make sure a fully received upload through the API is in the store (recovers a crash
    between recording the last chunk and moving the file)."""
    path = partial_file(partial_dir, upload.id)
    if upload.received_bytes != upload.size_bytes or not path.exists():
        return
    with _locked_partial(path) as partial:
        _settle_finished(store, upload, path, partial)
