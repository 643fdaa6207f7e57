"""Resumable uploads through the API (stores that take no presigned PUTs): chunks with
`Content-Range` to a signed URL.

A chunk must start where the received bytes end; `HEAD` tells that offset, so an interrupted
upload continues where it stopped (`storage.uploads.chunks` keeps the bytes).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import CatalogDep, SettingsDep, StoreDep
from api.errors import ApiError, error
from api.schemas.videos import UploadProgress
from api.signing import Grant, UrlSigner
from api.uploading import upload_error
from reelflow.settings import Settings
from storage import uploads
from storage.uploads import Chunk, Progress, UploadError

router = APIRouter(prefix="/uploads", tags=["uploads"])

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


def _check_url(settings: Settings, upload_id: UUID, expires: str, signature: str) -> None:
    grant = UrlSigner.from_settings(settings).check_upload(upload_id, expires, signature)
    if grant == Grant.INVALID:
        raise ApiError(403, "invalid_signature", "the upload URL is not valid")
    if grant == Grant.EXPIRED:
        raise ApiError(410, "upload_expired", "the upload URL has expired; start a new upload")


def _offset_headers(progress: Progress) -> dict[str, str]:
    return {
        "Upload-Offset": str(progress.offset),
        "Upload-Length": str(progress.upload.size_bytes),
    }


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
    _check_url(settings, upload_id, expires, signature)
    try:
        progress = uploads.upload_offset(catalog, store, settings.uploads_partial_dir, upload_id)
    except UploadError as exc:
        raise upload_error(exc) from None
    headers = _offset_headers(progress) | {"Cache-Control": "no-store"}
    return Response(status_code=200, headers=headers)


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
    _check_url(settings, upload_id, expires, signature)
    try:
        chunk = await run_in_threadpool(
            uploads.receive_chunk,
            catalog,
            store,
            settings.uploads_partial_dir,
            upload_id,
            request.headers.get("content-range"),
            max_bytes=settings.upload_chunk_max_bytes,
        )
        with chunk:
            await _receive(request, chunk)
            progress = await run_in_threadpool(chunk.finish)
    except UploadError as exc:
        raise upload_error(exc) from None
    body = UploadProgress(
        upload_id=progress.upload.id,
        received_bytes=progress.offset,
        size_bytes=progress.upload.size_bytes,
        complete=progress.complete,
    )
    return Response(
        body.model_dump_json(), media_type="application/json", headers=_offset_headers(progress)
    )


async def _receive(request: Request, chunk: Chunk) -> None:
    """Hand the request body to `chunk` in batches; a body longer than announced stops as soon
    as the batch that overflows is handed over."""
    batch: list[bytes] = []
    batched = 0
    async for piece in request.stream():
        batch.append(piece)
        batched += len(piece)
        if batched >= _WRITE_BATCH or batched > chunk.remaining:
            await run_in_threadpool(chunk.write, b"".join(batch))
            batch, batched = [], 0
    if batch:
        await run_in_threadpool(chunk.write, b"".join(batch))
