"""What only the S3 store does: presigned URLs that S3Proxy itself answers over HTTP."""

from __future__ import annotations

import os
import secrets
import time
import urllib.error
import urllib.request

import pytest
import requests

from reelflow import connect
from reelflow.settings import Settings
from storage.objects import MIN_PART_BYTES, ObjectStore, Part

S3 = pytest.mark.parametrize("object_store", ["s3"], indirect=True)


@S3
def test_presigned_get_grants_exactly_that_object(object_store: ObjectStore) -> None:
    object_store.put_bytes("videos/3/poster.jpg", b"jpeg bytes")

    url = object_store.presign("videos/3/poster.jpg", 60)

    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"jpeg bytes"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url.replace("poster.jpg", "other.jpg"), timeout=10)
    assert refused.value.code == 403
    short_lived = object_store.presign("videos/3/poster.jpg", 1)
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(short_lived, timeout=10)
    assert expired.value.code == 403


@S3
def test_presigned_put_uploads_with_octet_stream(object_store: ObjectStore) -> None:
    url = object_store.presign("uploads/5/source.mp4", 60, method="PUT")

    request = urllib.request.Request(
        url,
        data=b"uploaded",
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert object_store.get_bytes("uploads/5/source.mp4") == b"uploaded"


@S3
def test_parts_put_to_their_presigned_urls_complete_the_upload(object_store: ObjectStore) -> None:
    assert object_store.presigned_puts
    key = "uploads/6/source"
    data = os.urandom(MIN_PART_BYTES + 5000)
    upload_id = object_store.start_multipart(key)

    parts = []
    for number, piece in enumerate((data[:MIN_PART_BYTES], data[MIN_PART_BYTES:]), start=1):
        url = object_store.part_url(key, upload_id, number, 60)
        answer = requests.put(
            url, data=piece, headers={"Content-Type": "application/octet-stream"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        parts.append(Part(number, answer.headers["ETag"]))
    # A part URL is for its own part of its own upload only.
    elsewhere = object_store.part_url(key, upload_id, 1, 60).replace("partNumber=1", "partNumber=3")
    assert requests.put(elsewhere, data=b"x", timeout=30).status_code == 403

    object_store.complete_multipart(key, upload_id, parts)

    assert object_store.get_bytes(key) == data


def test_delete_bucket_removes_objects_open_uploads_and_the_bucket(dev_stack: Settings) -> None:
    store = connect.s3_store(dev_stack, f"reelflow-test-{secrets.token_hex(6)}")
    store.ensure_bucket()
    store.put_bytes("a/b/c", b"x")
    store.put_bytes("d", b"y")
    store.start_multipart("uploads/1/source")

    store.delete_bucket()

    assert store.bucket not in {
        bucket["Name"] for bucket in store.client.list_buckets().get("Buckets", [])
    }
