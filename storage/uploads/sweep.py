"""The sweep of what unfinished uploads leave behind.

Bytes of an upload are kept only while it is open. Once an upload is aborted, superseded,
expired or deleted with its video, its partial file or multipart upload is garbage.
`sweep_uploads` first marks open uploads past their expiry as expired (their videos return to
`pending`), then compares what the disk and the store hold with the uploads the catalog still
has open, so it also clears what a crash left. It lists before it asks the catalog, so an upload
opened meanwhile is never taken for garbage. A multipart upload no row names is left until it is
older than a grace period, since `open_upload` starts one just before the catalog row naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.catalog import Catalog, Upload
from storage.objects import MultipartUpload, ObjectStore
from storage.uploads.chunks import PARTIAL_SUFFIX
from storage.uploads.flow import SOURCE_PREFIX

MULTIPART_GRACE = timedelta(hours=1)


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
    partials = sorted(partial_dir.glob(f"*{PARTIAL_SUFFIX}")) if partial_dir else []
    multiparts = store.list_multipart(SOURCE_PREFIX)
    still_open = catalog.list_open_uploads()

    removed_files, removed_bytes = _remove_partials(
        partials, keep={str(upload.id) for upload in still_open}
    )
    aborted = (
        _abort_multiparts(
            store,
            multiparts,
            keep={upload.s3_upload_id for upload in still_open if upload.s3_upload_id},
            known=catalog.known_s3_upload_ids(m.upload_id for m in multiparts),
            started_before=(now or datetime.now(UTC)) - multipart_grace,
        )
        if multiparts
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
    store: ObjectStore,
    multiparts: list[MultipartUpload],
    keep: set[str],
    known: set[str],
    started_before: datetime,
) -> list[str]:
    """Abort the multipart uploads not in `keep`; those no upload names only once they are
    older than the cut-off. Returns the aborted uploads' keys."""
    aborted = []
    for multipart in multiparts:
        if multipart.upload_id in keep or (
            multipart.upload_id not in known and multipart.initiated > started_before
        ):
            continue
        if store.abort_multipart(multipart.key, multipart.upload_id):
            aborted.append(multipart.key)
    return aborted
