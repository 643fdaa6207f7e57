"""The upload flow's refusals as HTTP errors, and the signed URL of an upload through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest

from api.signing import Grant, UrlSigner
from api.uploading import STATUSES, upload_error, upload_url
from reelflow.settings import Settings
from storage.catalog import Upload, UploadStatus
from storage.uploads import (
    InvalidChunk,
    LargerThanDeclared,
    UploadConflict,
    UploadError,
    UploadNotFound,
)


def test_every_kind_of_refusal_has_a_status() -> None:
    kinds = set(UploadError.__subclasses__())

    assert set(STATUSES) == kinds
    assert len(set(STATUSES.values())) == len(kinds), "each kind means one status"


@pytest.mark.parametrize(
    ("refusal", "status", "headers"),
    [
        (UploadNotFound("not_found", "upload not found"), 404, {}),
        (UploadConflict("upload_busy", "busy"), 409, {}),
        (
            UploadConflict("offset_mismatch", "elsewhere", offset=10, length=100),
            409,
            {"Upload-Offset": "10", "Upload-Length": "100"},
        ),
        (UploadConflict("upload_incomplete", "missing", offset=0), 409, {"Upload-Offset": "0"}),
        (LargerThanDeclared("size_mismatch", "larger", length=5), 416, {"Upload-Length": "5"}),
        (InvalidChunk("invalid_content_range", "malformed"), 400, {}),
    ],
)
def test_refusals_keep_their_code_and_tell_where_to_resume(
    refusal: UploadError, status: int, headers: dict[str, str]
) -> None:
    error = upload_error(refusal)

    assert (error.status, error.code, error.message) == (status, refusal.code, refusal.message)
    assert (error.headers or {}) == headers


def test_the_upload_url_is_signed_until_the_upload_expires() -> None:
    settings = Settings(api_base_url="http://api.test/")
    expires_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    upload = Upload(
        id=UUID(int=7),
        video_id=UUID(int=8),
        object_key="uploads/8/source-0",
        size_bytes=10,
        received_bytes=0,
        status=UploadStatus.INITIATED,
        content_type="video/mp4",
        created_at=expires_at,
        expires_at=expires_at,
        completed_at=None,
        s3_upload_id=None,
    )

    url = urlsplit(upload_url(settings, upload))

    assert (url.scheme, url.netloc) == ("http", "api.test")
    assert url.path == f"/api/v1/uploads/{upload.id}"
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert query["expires"] == str(int(expires_at.timestamp()))
    signer = UrlSigner.from_settings(settings)
    now = expires_at.timestamp() - 1
    check = signer.check_upload(upload.id, query["expires"], query["signature"], now=now)
    assert check == Grant.VALID
    other = signer.check_upload(UUID(int=9), query["expires"], query["signature"], now=now)
    assert other == Grant.INVALID
