"""What unfinished uploads leave behind, and the sweep that removes it.

Bytes of an upload are kept only while it is open. A local upload's chunks gather in a partial
file named after it; an S3 upload's parts sit in a multipart upload under `uploads/`. Once an
upload is aborted, superseded, expired or deleted with its video, those bytes are garbage.

`sweep_uploads` first marks open uploads past their expiry as expired (their videos return to
`pending`), then compares what the disk and the bucket hold with the uploads the catalog still
has open, so it also clears what a crash left. It lists before it asks the catalog, so an upload
opened meanwhile is never taken for garbage. A multipart upload no row names is left until it is
older than a grace period, since the API starts one just before the catalog row that names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from botocore.exceptions import ClientError

from storage.catalog import Catalog, Upload
from storage.objects import ObjectStore, S3ObjectStore

SOURCE_PREFIX = "uploads/"
PARTIAL_SUFFIX = ".part"
MULTIPART_GRACE = timedelta(hours=1)


def partial_file(directory: Path, upload_id: UUID) -> Path:
    """Where the received bytes of a local upload gather until the last one arrives."""
    return directory / f"{upload_id}{PARTIAL_SUFFIX}"


@dataclass(frozen=True)
class UploadSweep:
    """What one sweep did."""

    expired: list[Upload]
    partial_files: int
    partial_bytes: int
    aborted_multipart_keys: list[str]


def sweep_uploads(
    catalog: Catalog,
    store: ObjectStore,
    partial_dir: Path | None,
    *,
    multipart_grace: timedelta = MULTIPART_GRACE,
    now: datetime | None = None,
) -> UploadSweep:
    """Expire overdue uploads, then delete the bytes of every upload that is no longer open."""
    expired = catalog.expire_uploads()
    s3 = store if isinstance(store, S3ObjectStore) else None
    partials = sorted(partial_dir.glob(f"*{PARTIAL_SUFFIX}")) if partial_dir else []
    multiparts = list(_multipart_uploads(s3)) if s3 else []
    still_open = catalog.list_open_uploads()

    removed_files, removed_bytes = _remove_partials(
        partials, keep={str(upload.id) for upload in still_open}
    )
    aborted = (
        _abort_multiparts(
            s3,
            multiparts,
            keep={upload.s3_upload_id for upload in still_open if upload.s3_upload_id},
            known=catalog.known_s3_upload_ids(m["UploadId"] for m in multiparts),
            started_before=(now or datetime.now(UTC)) - multipart_grace,
        )
        if s3 and multiparts
        else []
    )
    return UploadSweep(expired, removed_files, removed_bytes, aborted)


def _remove_partials(partials: list[Path], keep: set[str]) -> tuple[int, int]:
    """Delete the partial files of uploads not in `keep`; how many, and their bytes."""
    files = size = 0
    for path in partials:
        if path.name.removesuffix(PARTIAL_SUFFIX) in keep:
            continue
        try:
            bytes_held = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        files += 1
        size += bytes_held
    return files, size


def _abort_multiparts(
    store: S3ObjectStore,
    multiparts: list[dict[str, Any]],
    keep: set[str],
    known: set[str],
    started_before: datetime,
) -> list[str]:
    """Abort the multipart uploads not in `keep`; those no upload names only once they are
    older than the cut-off. Returns the aborted uploads' keys."""
    aborted = []
    for multipart in multiparts:
        upload_id = multipart["UploadId"]
        if upload_id in keep or (
            upload_id not in known and multipart["Initiated"] > started_before
        ):
            continue
        try:
            store.client.abort_multipart_upload(
                Bucket=store.bucket, Key=multipart["Key"], UploadId=multipart["UploadId"]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
            continue
        aborted.append(multipart["Key"])
    return aborted


def _multipart_uploads(store: S3ObjectStore) -> Iterator[dict[str, Any]]:
    pages = store.client.get_paginator("list_multipart_uploads").paginate(
        Bucket=store.bucket, Prefix=SOURCE_PREFIX
    )
    for page in pages:
        yield from page.get("Uploads", [])
