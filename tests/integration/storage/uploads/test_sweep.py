"""The sweep of what unfinished uploads leave, on a real catalog and both stores."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import UUID

from storage.catalog import Catalog, EncodingStatus, UploadStatus
from storage.objects import ObjectStore
from storage.uploads import SOURCE_PREFIX, partial_file, sweep_uploads
from tests.fixtures.uploads import expire_upload, listed_upload


def test_overdue_uploads_expire_and_lose_their_partial_files(
    catalog: Catalog, catalog_dsn: str, object_store: ObjectStore, tmp_path: Path
) -> None:
    partials = tmp_path / "partial"
    partials.mkdir()
    abandoned, going = (listed_upload(catalog, 5000).id for _ in range(2))
    for upload_id in (abandoned, going):
        partial_file(partials, upload_id).write_bytes(b"x" * 1000)
    # What a crash left: a partial file of an upload the catalog never knew.
    partial_file(partials, UUID(int=7)).write_bytes(b"y" * 10)
    expire_upload(catalog_dsn, abandoned)

    sweep = sweep_uploads(catalog, object_store, partials)

    assert [upload.id for upload in sweep.expired] == [abandoned]
    assert (sweep.partial_files, sweep.partial_bytes) == (2, 1010)
    assert catalog.get_upload(abandoned).status == UploadStatus.EXPIRED
    video = catalog.get_video(catalog.get_upload(abandoned).video_id)
    assert video.encoding_status == EncodingStatus.PENDING
    assert sorted(partials.iterdir()) == [partial_file(partials, going)]

    again = sweep_uploads(catalog, object_store, partials)
    assert (again.expired, again.partial_files, again.partial_bytes) == ([], 0, 0)


def test_multipart_uploads_of_closed_uploads_are_aborted_and_young_unknown_ones_kept(
    catalog: Catalog, catalog_dsn: str, object_store: ObjectStore
) -> None:
    abandoned, going = (listed_upload(catalog, 100, object_store) for _ in range(2))
    # Started a moment ago by an upload whose catalog row is not written yet.
    unknown_id = object_store.start_multipart(f"{SOURCE_PREFIX}x/source")
    expire_upload(catalog_dsn, abandoned.id)

    def open_ids() -> set[str]:
        return {m.upload_id for m in object_store.list_multipart(SOURCE_PREFIX)}

    sweep = sweep_uploads(catalog, object_store, None)

    assert [upload.id for upload in sweep.expired] == [abandoned.id]
    assert sweep.aborted_multipart_keys == [abandoned.object_key]
    assert going.s3_upload_id in open_ids() and unknown_id in open_ids()
    assert abandoned.s3_upload_id not in open_ids()

    # Once older than the grace period, a multipart upload nothing names is garbage too.
    later = sweep_uploads(catalog, object_store, None, multipart_grace=timedelta(0))
    assert later.aborted_multipart_keys == [f"{SOURCE_PREFIX}x/source"]
    assert going.s3_upload_id in open_ids() and unknown_id not in open_ids()
