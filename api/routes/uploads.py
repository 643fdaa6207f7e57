"""Resumable uploads to the API (the local object store): chunks with `Content-Range`.

A chunk must start where the received bytes end; `HEAD` tells that offset, so an interrupted
upload continues where it stopped. Chunks append to a partial file under
`<state_dir>/uploads-partial/`; when the last byte arrives the file moves into the object store
at the upload's key in one step, so the store never holds half a source.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import CatalogDep, SettingsDep, StoreDep
from api.errors import ApiError, error, not_found
from api.schemas.videos import UploadProgress
from api.signing import Grant, UrlSigner
from reelflow.settings import Settings
from storage.catalog import OPEN_UPLOAD_STATUSES, Catalog, NotFound, Upload, UploadStatus
from storage.objects import LocalObjectStore, ObjectStore
from storage.uploads import partial_file

router = APIRouter(prefix="/uploads", tags=["uploads"])

_CONTENT_RANGE = re.compile(r"bytes (\d{1,15})-(\d{1,15})/(\d{1,15})")
# Body pieces are gathered to this size before a write, to keep thread hops few.
_WRITE_BATCH = 1024 * 1024

Expires = Annotated[str, Query(max_length=12)]
Signature = Annotated[str, Query(max_length=64)]

URL_REFUSED: dict[int | str, dict[str, Any]] = {
    403: error("The upload URL's signature is not valid"),
    404: error("No such upload"),
    410: error("The upload URL or the upload has expired; start a new upload"),
    422: error("`expires` or `signature` is too long"),
}


def upload_url(settings: Settings, upload: Upload) -> str:
    """The signed URL of a local upload, valid as long as the upload is."""
    expires = int(upload.expires_at.timestamp())
    signature = UrlSigner.from_settings(settings).sign_upload(upload.id, expires)
    base = settings.api_base_url.rstrip("/")
    return f"{base}/api/v1/uploads/{upload.id}?expires={expires}&signature={signature}"


def partial_path(settings: Settings, upload_id: UUID) -> Path:
    return partial_file(settings.uploads_partial_dir, upload_id)


def discard_partial(settings: Settings, upload_id: UUID) -> None:
    """Remove the bytes received so far of an upload that will not be finished."""
    with contextlib.suppress(FileNotFoundError):
        partial_path(settings, upload_id).unlink()


def _open_upload(
    catalog: Catalog, settings: Settings, upload_id: UUID, expires: str, signature: str
) -> Upload:
    """The upload a signed URL addresses, if the URL is valid and the upload still open."""
    grant = UrlSigner.from_settings(settings).check_upload(upload_id, expires, signature)
    if grant == Grant.INVALID:
        raise ApiError(403, "invalid_signature", "the upload URL is not valid")
    if grant == Grant.EXPIRED:
        raise ApiError(410, "upload_expired", "the upload URL has expired; start a new upload")
    try:
        upload = catalog.get_upload(upload_id)
    except NotFound:
        raise not_found("upload") from None
    if upload.status == UploadStatus.EXPIRED or upload.expires_at <= datetime.now(UTC):
        raise ApiError(410, "upload_expired", "the upload has expired; start a new upload")
    if upload.status not in OPEN_UPLOAD_STATUSES:
        raise ApiError(409, "upload_closed", f"the upload is {upload.status}")
    return upload


def _offset(upload: Upload, path: Path, store: ObjectStore) -> int:
    """Where the next chunk starts: the bytes both on disk and recorded in the catalog."""
    try:
        on_disk = path.stat().st_size
    except FileNotFoundError:
        # Either the finished file already moved into the store, or nothing arrived yet.
        finished = upload.received_bytes == upload.size_bytes and store.exists(upload.object_key)
        return upload.size_bytes if finished else 0
    return min(on_disk, upload.received_bytes)


def _offset_headers(offset: int, upload: Upload) -> dict[str, str]:
    return {"Upload-Offset": str(offset), "Upload-Length": str(upload.size_bytes)}


@router.head(
    "/{upload_id}",
    status_code=200,
    responses={**URL_REFUSED, 409: error("The upload is completed or aborted")},
)
def upload_offset(
    upload_id: UUID,
    catalog: CatalogDep,
    settings: SettingsDep,
    store: StoreDep,
    expires: Expires = "",
    signature: Signature = "",
) -> Response:
    """How many bytes have arrived (`Upload-Offset`): the offset to resume from."""
    upload = _open_upload(catalog, settings, upload_id, expires, signature)
    offset = _offset(upload, partial_path(settings, upload.id), store)
    headers = _offset_headers(offset, upload) | {"Cache-Control": "no-store"}
    return Response(status_code=200, headers=headers)


@contextlib.contextmanager
def _locked_partial(path: Path) -> Iterator[BinaryIO]:
    """The partial file, created if missing, locked against a concurrent chunk of the same
    upload (which would interleave bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ApiError(
            409, "upload_busy", "another chunk of this upload is being received"
        ) from None
    with os.fdopen(fd, "r+b") as file:
        yield file


def _parse_content_range(header: str | None, upload: Upload) -> tuple[int, int]:
    """First and last byte of the chunk from `Content-Range: bytes a-b/total`."""
    match = _CONTENT_RANGE.fullmatch((header or "").strip())
    if match is None:
        raise ApiError(
            400, "invalid_content_range", "send the chunk with Content-Range: bytes a-b/total"
        )
    first, last, total = (int(group) for group in match.groups())
    if first > last or last >= total:
        raise ApiError(400, "invalid_content_range", f"{header!r} is not a byte range of the file")
    if total != upload.size_bytes:
        raise ApiError(
            416 if total > upload.size_bytes else 409,
            "size_mismatch",
            f"the upload was declared as {upload.size_bytes} bytes, not {total}",
            headers={"Upload-Length": str(upload.size_bytes)},
        )
    return first, last


def _finish(store: ObjectStore, upload: Upload, partial: Path) -> None:
    """Move the assembled file into the object store under the upload's key, in one step."""
    if isinstance(store, LocalObjectStore):
        target = store.path(upload.object_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(partial, target)
            return
        except OSError:
            # Another file system: the store copies the file and swaps it in atomically.
            pass
    store.put_file(upload.object_key, partial)
    partial.unlink()


def _settle_finished(store: ObjectStore, upload: Upload, path: Path, partial: BinaryIO) -> None:
    """Under the lock, for an upload whose every byte is recorded: move a fully assembled file
    that a crash left behind into the store, and drop an empty one the lock just created."""
    size = os.fstat(partial.fileno()).st_size
    if size == upload.size_bytes and not store.exists(upload.object_key):
        _finish(store, upload, path)
    elif size == 0:
        path.unlink(missing_ok=True)


def finish_assembled(settings: Settings, store: ObjectStore, upload: Upload) -> None:
    """Make sure a fully received local upload is in the object store (recovers a crash between
    recording the last chunk and moving the file)."""
    path = partial_path(settings, upload.id)
    if upload.received_bytes != upload.size_bytes or not path.exists():
        return
    with _locked_partial(path) as partial:
        _settle_finished(store, upload, path, partial)


def _refuse_finished(upload: Upload) -> None:
    if upload.received_bytes == upload.size_bytes:
        raise ApiError(
            409,
            "upload_finished",
            "every byte has arrived; complete the upload",
            headers=_offset_headers(upload.size_bytes, upload),
        )


@router.put(
    "/{upload_id}",
    response_model=UploadProgress,
    responses={
        **URL_REFUSED,
        400: error("`Content-Range` is missing or malformed, or the body is not that long"),
        409: error(
            "The upload is closed or already complete, another chunk is arriving, the chunk"
            " does not start at `Upload-Offset`, or the file is smaller than declared"
        ),
        413: error("The chunk is larger than `chunk_size`"),
        416: error("`Content-Range` names a larger file than the one declared"),
    },
)
async def upload_chunk(
    upload_id: UUID,
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    store: StoreDep,
    expires: Expires = "",
    signature: Signature = "",
) -> Response:
    """Append one chunk of the source file; `Upload-Offset` in the answer is the next start."""
    upload = await run_in_threadpool(_open_upload, catalog, settings, upload_id, expires, signature)
    first, last = _parse_content_range(request.headers.get("content-range"), upload)
    length = last - first + 1
    if length > settings.upload_chunk_max_bytes:
        raise ApiError(
            413, "chunk_too_large", f"chunks are at most {settings.upload_chunk_max_bytes} bytes"
        )
    _refuse_finished(upload)
    path = partial_path(settings, upload.id)
    with _locked_partial(path) as partial:
        # Read again under the lock: the chunk before may have finished the upload meanwhile.
        upload = await run_in_threadpool(catalog.get_upload, upload.id)
        if upload.received_bytes == upload.size_bytes:
            await run_in_threadpool(_settle_finished, store, upload, path, partial)
            _refuse_finished(upload)
        offset = min(os.fstat(partial.fileno()).st_size, upload.received_bytes)
        if first != offset:
            raise ApiError(
                409,
                "offset_mismatch",
                f"the next chunk starts at byte {offset}, not {first}",
                headers=_offset_headers(offset, upload),
            )
        # Bytes past the recorded offset are the tail of a chunk that never completed.
        partial.truncate(offset)
        partial.seek(offset)
        try:
            received = await _receive(request, partial, length)
        except BaseException:
            partial.truncate(offset)
            raise
        if received != length:
            partial.truncate(offset)
            raise ApiError(
                400,
                "chunk_length_mismatch",
                f"Content-Range announced {length} bytes, the body had {received}",
                headers=_offset_headers(offset, upload),
            )
        await run_in_threadpool(_flush, partial)
        upload = await run_in_threadpool(catalog.record_received, upload.id, first + length)
        complete = first + length == upload.size_bytes
        if complete:
            await run_in_threadpool(_finish, store, upload, path)
    progress = UploadProgress(
        upload_id=upload.id,
        received_bytes=first + length,
        size_bytes=upload.size_bytes,
        complete=complete,
    )
    return Response(
        progress.model_dump_json(),
        media_type="application/json",
        headers=_offset_headers(first + length, upload),
    )


async def _receive(request: Request, partial: BinaryIO, length: int) -> int:
    """Write the request body to `partial`; stops early once it is longer than `length`."""
    received = 0
    batch: list[bytes] = []
    batched = 0
    async for piece in request.stream():
        received += len(piece)
        if received > length:
            return received
        batch.append(piece)
        batched += len(piece)
        if batched >= _WRITE_BATCH:
            await run_in_threadpool(partial.write, b"".join(batch))
            batch, batched = [], 0
    if batch:
        await run_in_threadpool(partial.write, b"".join(batch))
    return received


def _flush(partial: BinaryIO) -> None:
    partial.flush()
    os.fsync(partial.fileno())
