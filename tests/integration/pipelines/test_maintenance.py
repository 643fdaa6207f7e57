"""The hourly clean-up job, run in process on a real catalog and store: what it records."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from pipelines.definitions import build_definitions
from reelflow import connect
from reelflow.settings import Settings
from storage.catalog import Catalog, UploadStatus
from storage.uploads import partial_file
from tests.fixtures.uploads import expire_upload, new_upload


def clean_up_uploads(settings: Settings) -> dict[str, object]:
    """Run the hourly clean-up job in process; the figures it records."""
    job = build_definitions(settings).resolve_job_def("clean_up_uploads")
    result = job.execute_in_process()
    assert result.success
    [output] = [e for e in result.all_node_events if e.event_type_value == "STEP_OUTPUT"]
    assert output.step_output_data is not None
    return {name: value.value for name, value in output.step_output_data.metadata.items()}


@pytest.fixture
def local_settings(dev_stack: Settings, catalog_dsn: str, tmp_path: Path) -> Settings:
    return dev_stack.model_copy(
        update={
            "postgres_dsn": catalog_dsn,
            "object_store": "local",
            "object_store_dir": tmp_path / "objects",
            "state_dir": tmp_path / "state",
        }
    )


@pytest.fixture
def s3_settings(local_settings: Settings) -> Iterator[Settings]:
    settings = local_settings.model_copy(
        update={"object_store": "s3", "s3_bucket": f"reelflow-test-{secrets.token_hex(6)}"}
    )
    store = connect.s3_store(settings)
    store.ensure_bucket()
    yield settings
    store.delete_bucket()


def test_the_job_expires_uploads_and_removes_partial_files(
    local_settings: Settings, catalog: Catalog
) -> None:
    store = connect.object_store(local_settings)
    abandoned, going = (new_upload(catalog, store, 5000).upload for _ in range(2))
    partials = local_settings.uploads_partial_dir
    partials.mkdir(parents=True)
    for upload in (abandoned, going):
        partial_file(partials, upload.id).write_bytes(b"x" * 1000)
    partial_file(partials, UUID(int=7)).write_bytes(b"y" * 10)
    expire_upload(local_settings.postgres_dsn, abandoned.id)

    figures = clean_up_uploads(local_settings)

    assert figures["expired_uploads"] == 1
    assert (figures["partial_files_removed"], figures["partial_bytes_removed"]) == (2, 1010)
    assert figures["multipart_uploads_aborted"] == 0
    assert str(abandoned.video_id) in str(figures["expired"])
    assert catalog.get_upload(abandoned.id).status == UploadStatus.EXPIRED
    assert partial_file(partials, going.id).exists()

    again = clean_up_uploads(local_settings)
    assert (again["expired_uploads"], again["partial_files_removed"]) == (0, 0)


def test_the_job_aborts_the_multipart_uploads_of_expired_uploads(
    s3_settings: Settings, catalog: Catalog
) -> None:
    store = connect.object_store(s3_settings)
    abandoned, going = (new_upload(catalog, store, 5000).upload for _ in range(2))
    expire_upload(s3_settings.postgres_dsn, abandoned.id)

    figures = clean_up_uploads(s3_settings)

    assert (figures["expired_uploads"], figures["multipart_uploads_aborted"]) == (1, 1)
    assert [m.upload_id for m in store.list_multipart("uploads")] == [going.s3_upload_id]
