"""The S3 store: objects in one bucket of S3 or an S3-compatible server (S3Proxy in development)."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from storage.objects.base import (
    READ_CHUNK,
    MultipartUpload,
    ObjectStat,
    ObjectStore,
    ObjectStream,
    Part,
    check_part_number,
    check_presign,
    check_range,
)
from storage.objects.errors import (
    InvalidKey,
    InvalidParts,
    MultipartError,
    MultipartNotFound,
    ObjectNotFound,
    ObjectStoreError,
)
from storage.objects.keys import (
    DEFAULT_CONTENT_TYPE,
    folder_of,
    guess_content_type,
    validate_key,
)

# DeleteObjects takes at most 1000 keys per request.
_DELETE_BATCH = 1000


class S3ObjectStore(ObjectStore):
    """Objects in one S3 bucket (S3Proxy in development)."""

    presigned_puts = True

    def __init__(
        self,
        bucket: str,
        client: Any,
        *,
        transfer_config: TransferConfig | None = None,
        upload_workers: int = 8,
        page_size: int = 1000,
    ) -> None:
        self.bucket = bucket
        self.client = client
        self.transfer_config = transfer_config or TransferConfig()
        self.upload_workers = upload_workers
        self.page_size = page_size

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (safe to call again, or from two processes)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _status(exc) != 404:
                raise
        params: dict[str, Any] = {"Bucket": self.bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**params)
        except ClientError:
            # Lost a race with another creator: fine if the bucket is ours now.
            self.client.head_bucket(Bucket=self.bucket)

    def delete_bucket(self) -> None:
        """Abort the open multipart uploads, delete every object, then the bucket itself."""
        for upload in self.list_multipart():
            self.abort_multipart(upload.key, upload.upload_id)
        self._delete_keys(self.list(""), "the bucket")
        self.client.delete_bucket(Bucket=self.bucket)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        validate_key(key)
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type or guess_content_type(key),
        )

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        validate_key(key)
        if not Path(path).is_file():
            raise FileNotFoundError(f"no file to upload at {path}")
        self.client.upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type or guess_content_type(key)},
            Config=self.transfer_config,
        )

    def copy(self, source_key: str, target_key: str) -> None:
        validate_key(source_key)
        validate_key(target_key)
        source = {"Bucket": self.bucket, "Key": source_key}
        # The managed copy: one CopyObject, or UploadPartCopy parts past the multipart threshold
        # (CopyObject stops at 5 GiB); both keep the content type.
        with _s3_not_found(source_key):
            self.client.copy(source, self.bucket, target_key, Config=self.transfer_config)

    # Streams are many small segments: parallel requests hide the per-request latency.

    def _put_files(self, items: Sequence[tuple[str, Path, str]]) -> None:
        self._in_parallel(self.put_file, items)

    def _copy_keys(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._in_parallel(self.copy, pairs)

    def _download_files(self, pairs: Sequence[tuple[str, Path]]) -> None:
        self._in_parallel(self.download, pairs)

    def _in_parallel(self, call: Callable[..., None], items: Sequence[tuple[Any, ...]]) -> None:
        with ThreadPoolExecutor(max_workers=self.upload_workers) as pool:
            futures = [pool.submit(call, *item) for item in items]
        for future in futures:
            future.result()

    def get_bytes(self, key: str) -> bytes:
        validate_key(key)
        with _s3_not_found(key):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        with response["Body"] as body:
            data: bytes = body.read()
        return data

    def open_range(self, key: str, first: int = 0, last: int | None = None) -> ObjectStream:
        check_range(first, last)
        validate_key(key)
        params = {"Bucket": self.bucket, "Key": key}
        if first or last is not None:
            params["Range"] = f"bytes={first}-{'' if last is None else last}"
        try:
            with _s3_not_found(key):
                response = self.client.get_object(**params)
        except ClientError as exc:
            if _code(exc) != "InvalidRange":
                raise
            # The range starts at or past the end: nothing to read.
            return ObjectStream((), lambda: None)
        body = response["Body"]
        return ObjectStream(body.iter_chunks(READ_CHUNK), body.close)

    def download(self, key: str, path: Path) -> None:
        validate_key(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _s3_not_found(key):
            self.client.download_file(self.bucket, key, str(target), Config=self.transfer_config)

    def _head(self, key: str) -> dict[str, Any]:
        validate_key(key)
        with _s3_not_found(key):
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        return head

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except ObjectNotFound:
            return False
        return True

    def stat(self, key: str) -> ObjectStat:
        head = self._head(key)
        return ObjectStat(
            size=int(head["ContentLength"]),
            content_type=str(head.get("ContentType") or DEFAULT_CONTENT_TYPE),
            etag=str(head.get("ETag") or ""),
            modified=head["LastModified"],
        )

    def list(self, prefix: str = "") -> builtins.list[str]:
        folder = folder_of(prefix)
        keys: builtins.list[str] = []
        after: dict[str, str] = {}
        while True:
            page = self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=folder, MaxKeys=self.page_size, **after
            )
            contents = page.get("Contents", [])
            # S3Proxy's filesystem backend reports folders as keys ending in "/"; no valid key
            # does, so they are never objects of ours.
            keys.extend(item["Key"] for item in contents if not item["Key"].endswith("/"))
            if not page.get("IsTruncated") or not contents:
                return sorted(keys)
            # Pages continue after the last key rather than from the continuation token:
            # S3Proxy hands that token out URL-encoded and reads it back as it is, so after a key
            # with "=" in it (the datasets' day=... folders) it served the same page forever.
            after = {"StartAfter": contents[-1]["Key"]}

    def _pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator(operation)
        yield from paginator.paginate(
            Bucket=self.bucket, PaginationConfig={"PageSize": self.page_size}, **params
        )

    def _subfolders(self, folder: str) -> builtins.list[str]:
        names: builtins.list[str] = []
        for page in self._pages("list_objects_v2", Prefix=folder, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                names.append(common["Prefix"][len(folder) :].rstrip("/"))
        return names

    def delete(self, key: str) -> None:
        validate_key(key)
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        if not folder_of(prefix):
            raise InvalidKey(prefix, "refusing to delete every object: give a prefix")
        keys = self.list(prefix)
        self._delete_keys(keys, repr(prefix))
        return len(keys)

    def _delete_keys(self, keys: builtins.list[str], where: str) -> None:
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise ObjectStoreError(
                    f"could not delete {len(errors)} objects under {where}; first: "
                    f"{first.get('Key')!r} ({first.get('Code')}: {first.get('Message')})"
                )

    def presign(self, key: str, expires_s: int, method: str = "GET") -> str:
        method = check_presign(expires_s, method)
        validate_key(key)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if method == "PUT":
            # Without an explicit signed Content-Type, presigned PUTs misbehave on S3 emulators;
            # the uploader must send exactly this header.
            params["ContentType"] = DEFAULT_CONTENT_TYPE
        operation = "put_object" if method == "PUT" else "get_object"
        url: str = self.client.generate_presigned_url(
            operation, Params=params, ExpiresIn=expires_s, HttpMethod=method
        )
        return url

    # Multipart uploads

    def start_multipart(self, key: str, content_type: str | None = None) -> str:
        validate_key(key)
        created = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type or guess_content_type(key)
        )
        return str(created["UploadId"])

    def part_url(
        self, key: str, upload_id: str, number: int, expires_s: int, length: int | None = None
    ) -> str:
        check_presign(expires_s, "PUT")
        validate_key(key)
        params: dict[str, str | int] = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": check_part_number(number),
        }
        if length is not None:
            # Signed as the Content-Length header: any other body length fails the signature.
            params["ContentLength"] = length
        url: str = self.client.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=expires_s, HttpMethod="PUT"
        )
        return url

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        check_part_number(number)
        validate_key(key)
        with _multipart_errors(key, upload_id, MultipartError):
            response = self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        return str(response["ETag"])

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[Part]) -> None:
        validate_key(key)
        listed = [{"PartNumber": part.number, "ETag": part.etag} for part in parts]
        with _multipart_errors(key, upload_id, InvalidParts):
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": listed},
            )

    def abort_multipart(self, key: str, upload_id: str) -> bool:
        validate_key(key)
        try:
            with _multipart_errors(key, upload_id, MultipartError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except MultipartNotFound:
            return False
        return True

    def list_multipart(self, prefix: str = "") -> builtins.list[MultipartUpload]:
        folder = folder_of(prefix)
        uploads = [
            MultipartUpload(item["Key"], item["UploadId"], item["Initiated"])
            # S3Proxy refuses a page size here (MaxUploads); S3 pages by 1000 anyway.
            for page in self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=folder
            )
            for item in page.get("Uploads", [])
        ]
        return sorted(uploads, key=lambda upload: (upload.key, upload.initiated))


def _status(error: ClientError) -> int | None:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "")


@contextlib.contextmanager
def _s3_not_found(key: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        if code == "NoSuchBucket":
            raise
        if code in {"404", "NoSuchKey", "NotFound"} or _status(exc) == 404:
            raise ObjectNotFound(key) from exc
        raise


@contextlib.contextmanager
def _multipart_errors(key: str, upload_id: str, refused: type[MultipartError]) -> Iterator[None]:
    """S3's refusals of a multipart step as `MultipartNotFound` or `refused`."""
    try:
        yield
    except ClientError as exc:
        code = _code(exc)
        if code == "NoSuchUpload":
            raise MultipartNotFound(key, upload_id) from exc
        message = f"the store refused upload {upload_id!r} of {key!r}"
        raise refused(code or "error", message) from exc


def s3_client(
    endpoint_url: str | None, region: str, access_key_id: str, secret_access_key: str
) -> Any:
    """A boto3 S3 client for AWS or an S3-compatible server at `endpoint_url`."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        # S3-compatible servers (S3Proxy among them) reject the optional CRC trailers that
        # botocore sends by default; required checksums are still sent.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=16,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )
