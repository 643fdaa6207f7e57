"""Object storage for media and published streams: a local directory or an S3 bucket.

Both stores speak the same interface and give the same answers, so code and tests written
against `ObjectStore` run unchanged on either.

Keys are `/`-separated paths such as `videos/42/hls/master.m3u8` (see `validate_key`).
A *prefix* names a folder: `list("a/b")` and `list("a/b/")` both return the keys under
`a/b/` and never `a/bc/...` nor the object `a/b` itself; the empty prefix means "everything".

Publishing is atomic per prefix: `publish(prefix, dir)` uploads the directory under
`prefix/<version>/` and only then rewrites the pointer object `prefix/CURRENT`, so a reader that
resolves CURRENT first never sees a half-uploaded version.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

CURRENT = "CURRENT"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mpd": "application/dash+xml",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".cmfv": "video/mp4",
    ".cmfa": "audio/mp4",
    ".ts": "video/mp2t",
    ".aac": "audio/aac",
    ".webm": "video/webm",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Uploaded after everything else by `put_tree`, so a manifest never names a missing segment.
MANIFEST_SUFFIXES = frozenset({".m3u8", ".mpd"})
PRESIGN_METHODS = frozenset({"GET", "PUT"})
# SigV4 presigned URLs are valid for at most 7 days; the local store keeps the same limit.
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600
MAX_KEY_BYTES = 1024

VERSION_RE = re.compile(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}")
# Names the local store keeps for itself (temp files, content-type sidecars); never valid in keys.
_RESERVED_PREFIX = ".reelflow-"
_TEMP_PREFIX = _RESERVED_PREFIX + "tmp-"
_TYPE_PREFIX = _RESERVED_PREFIX + "type."
_COPY_CHUNK = 1024 * 1024
_EXPIRES_RE = re.compile(r"\d{1,12}")


class ObjectStoreError(Exception):
    """An object store operation failed."""


class ObjectNotFound(ObjectStoreError):
    """No object exists under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no object under key {key!r}")
        self.key = key


class InvalidKey(ObjectStoreError, ValueError):
    """The key (or prefix) cannot name an object."""

    def __init__(self, key: object, reason: str) -> None:
        super().__init__(f"invalid object key {key!r}: {reason}")
        self.key = key
        self.reason = reason


def validate_key(key: str) -> str:
    """Return `key` if it can name an object in every store, else raise `InvalidKey`.

    A key is non-empty, at most 1024 UTF-8 bytes, made of non-empty `/`-separated segments
    (so no leading, trailing or doubled `/`), with no `.` or `..` segment, no backslash and no
    control character; segments starting with `.reelflow-` are reserved for the local store.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(key, "a key is a non-empty string")
    if key.startswith("/"):
        raise InvalidKey(key, "keys are relative: no leading '/'")
    if "\\" in key:
        raise InvalidKey(key, "backslashes are not allowed")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        raise InvalidKey(key, "control characters are not allowed")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(key, f"longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(key, "empty path segment (trailing or doubled '/')")
        if segment in {".", ".."}:
            raise InvalidKey(key, f"'{segment}' segments are not allowed")
        if segment.startswith(_RESERVED_PREFIX):
            raise InvalidKey(key, f"segments starting with {_RESERVED_PREFIX!r} are reserved")
    return key


def folder_of(prefix: str) -> str:
    """The normalised folder for a prefix: `""` for everything, else `"a/b/"`."""
    if prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise InvalidKey(prefix, "a prefix is a string")
    stripped = prefix[:-1] if prefix.endswith("/") else prefix
    return validate_key(stripped) + "/"


def guess_content_type(key: str) -> str:
    """The content type a key's extension implies (`application/octet-stream` if unknown)."""
    return CONTENT_TYPES.get(Path(key).suffix.lower(), DEFAULT_CONTENT_TYPE)


def new_version(now: datetime | None = None) -> str:
    """A publish version: sorts by UTC time (to the microsecond), random suffix against ties."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S}.{moment.microsecond:06d}Z-{secrets.token_hex(3)}"


def _check_presign(expires_s: int, method: str) -> str:
    if not isinstance(expires_s, int) or not 1 <= expires_s <= MAX_PRESIGN_EXPIRY_S:
        raise ValueError(f"expires_s must be an int in 1..{MAX_PRESIGN_EXPIRY_S}, not {expires_s}")
    upper = method.upper()
    if upper not in PRESIGN_METHODS:
        raise ValueError(f"presigned URLs support {sorted(PRESIGN_METHODS)}, not {method!r}")
    return upper


def _local_signature(secret: bytes, key: str, expires: int, method: str) -> str:
    message = f"{method}\n{key}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify_local_signature(
    secret: bytes,
    key: str,
    expires: int | str,
    method: str,
    signature: str,
    now: float | None = None,
) -> bool:
    """True if a local presigned URL's parameters are authentic and not yet expired."""
    if isinstance(expires, str):
        if not _EXPIRES_RE.fullmatch(expires):
            return False
        expires = int(expires)
    if not isinstance(expires, int) or not isinstance(signature, str):
        return False
    if expires < (time.time() if now is None else now):
        return False
    try:
        validate_key(key)
    except InvalidKey:
        return False
    expected = _local_signature(secret, key, expires, method.upper())
    return hmac.compare_digest(expected.encode(), signature.encode())


class ObjectStore(ABC):
    """A flat namespace of immutable-per-write objects addressed by key."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store `data` under `key`; the content type defaults to the extension's."""

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Store the local file `path` under `key`; the content type defaults to the extension's."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; `ObjectNotFound` if missing."""

    @abstractmethod
    def download(self, key: str, path: Path) -> None:
        """Write the object to the local file `path` (created atomically, parents too)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True if an object is stored under `key`."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes; `ObjectNotFound` if missing."""

    @abstractmethod
    def content_type(self, key: str) -> str:
        """The object's content type; `ObjectNotFound` if missing."""

    @abstractmethod
    def list(self, prefix: str = "") -> builtins.list[str]:
        """Every key under the folder `prefix`, sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under the (non-empty) folder `prefix`; how many were removed."""

    @abstractmethod
    def presign(self, key: str, expires_s: int, method: str = "GET") -> str:
        """A URL that allows `method` (GET or PUT) on `key` for `expires_s` seconds."""

    @abstractmethod
    def _subfolders(self, folder: str) -> builtins.list[str]:
        """Names of the folders directly under the normalised `folder`."""

    def _put_files(self, items: Sequence[tuple[str, Path, str]]) -> None:
        for key, path, content_type in items:
            self.put_file(key, path, content_type)

    def put_tree(self, prefix: str, directory: Path) -> builtins.list[str]:
        """Upload every file under `directory` below `prefix`; the keys written, sorted."""
        folder = folder_of(prefix)
        root = Path(directory)
        if not root.is_dir():
            raise NotADirectoryError(f"{root} is not a directory")
        media: builtins.list[tuple[str, Path, str]] = []
        manifests: builtins.list[tuple[str, Path, str]] = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = validate_key(folder + path.relative_to(root).as_posix())
            item = (key, path, guess_content_type(key))
            (manifests if path.suffix.lower() in MANIFEST_SUFFIXES else media).append(item)
        self._put_files(media)
        self._put_files(manifests)
        return sorted(key for key, _, _ in media + manifests)

    def publish(self, prefix: str, directory: Path) -> str:
        """Upload `directory` as a new version of `prefix`, then make it current; the version."""
        base = _publish_base(prefix)
        version = new_version()
        if not self.put_tree(f"{base}/{version}", directory):
            raise ValueError(f"{directory} holds no files to publish")
        self.point(prefix, version)
        return version

    def point(self, prefix: str, version: str) -> None:
        """Make `version` (already uploaded under `prefix`) the current one."""
        if not VERSION_RE.fullmatch(version):
            raise InvalidKey(version, "not a version name")
        base = _publish_base(prefix)
        self.put_bytes(f"{base}/{CURRENT}", version.encode(), "text/plain; charset=utf-8")

    def download_tree(self, prefix: str, directory: Path) -> builtins.list[str]:
        """Download every object under `prefix` into `directory`, keeping relative paths."""
        folder = folder_of(prefix)
        keys = self.list(folder)
        for key in keys:
            target = Path(directory) / key[len(folder) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            self.download(key, target)
        return keys

    def current_version(self, prefix: str) -> str | None:
        """The version `prefix/CURRENT` points at, or None if nothing was published."""
        try:
            return self.get_bytes(f"{_publish_base(prefix)}/{CURRENT}").decode().strip()
        except ObjectNotFound:
            return None

    def versions(self, prefix: str) -> builtins.list[str]:
        """Every published (or partially uploaded) version of `prefix`, oldest first."""
        names = self._subfolders(folder_of(_publish_base(prefix)))
        return sorted(name for name in names if VERSION_RE.fullmatch(name))

    def prune(self, prefix: str, keep: int) -> builtins.list[str]:
        """Remove versions other than the current one and the newest `keep`; those removed.

        Run it after `publish` for the same prefix, not beside it: with `keep=0` a version
        still uploading would count as old.
        """
        if keep < 0:
            raise ValueError(f"keep must be >= 0, not {keep}")
        base = _publish_base(prefix)
        versions = self.versions(prefix)
        retained = set(versions[-keep:]) if keep else set()
        current = self.current_version(prefix)
        if current is not None:
            retained.add(current)
        removed = [version for version in versions if version not in retained]
        for version in removed:
            self.delete_prefix(f"{base}/{version}")
        return removed


def _publish_base(prefix: str) -> str:
    folder = folder_of(prefix)
    if not folder:
        raise InvalidKey(prefix, "publishing needs a non-empty prefix")
    return folder[:-1]


class LocalObjectStore(ObjectStore):
    """Objects as files under `root`, served by the API as the CDN origin at `base_url`."""

    def __init__(self, root: Path, base_url: str, signing_secret: bytes) -> None:
        if not signing_secret:
            raise ValueError("a local object store needs a non-empty signing secret")
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self._secret = signing_secret
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file that holds `key` (which need not exist)."""
        return self.root.joinpath(*validate_key(key).split("/"))

    def _type_path(self, path: Path) -> Path:
        return path.with_name(_TYPE_PREFIX + path.name)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self.path(key)
        self._record_type(key, path, content_type)
        _atomic_write(path, lambda out: out.write(data), key)

    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        target = self.path(key)
        with open(path, "rb") as source:
            self._record_type(key, target, content_type)
            _atomic_write(target, lambda out: shutil.copyfileobj(source, out, _COPY_CHUNK), key)

    def _record_type(self, key: str, path: Path, content_type: str | None) -> None:
        # Only types that differ from the extension's need a sidecar; most objects have none.
        sidecar = self._type_path(path)
        if content_type is None or content_type == guess_content_type(key):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                sidecar.unlink()
        else:
            _atomic_write(sidecar, lambda out: out.write(content_type.encode()), key)

    def get_bytes(self, key: str) -> bytes:
        with _local_not_found(key):
            return self.path(key).read_bytes()

    def download(self, key: str, path: Path) -> None:
        with _local_not_found(key):
            source = open(self.path(key), "rb")
        with source:
            _atomic_write(
                Path(path), lambda out: shutil.copyfileobj(source, out, _COPY_CHUNK), str(path)
            )

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        path = self.path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return path.stat().st_size

    def content_type(self, key: str) -> str:
        path = self.path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        try:
            return self._type_path(path).read_text().strip()
        except FileNotFoundError:
            return guess_content_type(key)

    def list(self, prefix: str = "") -> builtins.list[str]:
        return sorted(key for key, _ in self._walk(folder_of(prefix)))

    def _walk(self, folder: str) -> Iterator[tuple[str, Path]]:
        top = self.root.joinpath(*folder.split("/")) if folder else self.root
        for dirpath, _, filenames in os.walk(top):
            base = Path(dirpath)
            relative = base.relative_to(self.root).as_posix()
            for name in filenames:
                if not name.startswith(_RESERVED_PREFIX):
                    yield (name if relative == "." else f"{relative}/{name}"), base / name

    def delete(self, key: str) -> None:
        path = self.path(key)
        for victim in (self._type_path(path), path):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                victim.unlink()
        self._remove_empty_dirs(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        folder = folder_of(prefix)
        if not folder:
            raise InvalidKey(prefix, "refusing to delete every object: give a prefix")
        top = self.root.joinpath(*folder.split("/"))
        count = 0
        for dirpath, _, filenames in os.walk(top, topdown=False):
            for name in filenames:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, name))
                    if not name.startswith(_RESERVED_PREFIX):
                        count += 1
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)
        self._remove_empty_dirs(top.parent)
        return count

    def _remove_empty_dirs(self, directory: Path) -> None:
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def _subfolders(self, folder: str) -> builtins.list[str]:
        top = self.root.joinpath(*folder.split("/")) if folder else self.root
        try:
            return [entry.name for entry in top.iterdir() if entry.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def presign(self, key: str, expires_s: int, method: str = "GET") -> str:
        method = _check_presign(expires_s, method)
        validate_key(key)
        expires = int(time.time()) + expires_s
        query = urlencode(
            {
                "expires": expires,
                "method": method,
                "signature": _local_signature(self._secret, key, expires, method),
            }
        )
        return f"{self.base_url}/{quote(key, safe='/')}?{query}"


def _atomic_write(target: Path, write: Callable[[IO[bytes]], object], key: str) -> None:
    # A concurrent delete may remove the (then empty) parent between mkdir and mkstemp.
    for attempt in range(3):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=target.parent)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
        except (FileExistsError, NotADirectoryError) as exc:
            raise ObjectStoreError(f"{key!r}: a parent folder is already an object") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp creates 0600; objects are served by other processes of the same deployment.
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(exc, IsADirectoryError):
            raise ObjectStoreError(f"{key!r} is already a folder of other objects") from exc
        raise


@contextlib.contextmanager
def _local_not_found(key: str) -> Iterator[None]:
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise ObjectNotFound(key) from exc


class S3ObjectStore(ObjectStore):
    """Objects in one S3 bucket (S3Proxy in development)."""

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

    def _put_files(self, items: Sequence[tuple[str, Path, str]]) -> None:
        # Streams are many small segments: parallel requests hide the per-request latency.
        with ThreadPoolExecutor(max_workers=self.upload_workers) as pool:
            futures = [pool.submit(self.put_file, *item) for item in items]
        for future in futures:
            future.result()

    def get_bytes(self, key: str) -> bytes:
        validate_key(key)
        with _s3_not_found(key):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        with response["Body"] as body:
            data: bytes = body.read()
        return data

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

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def content_type(self, key: str) -> str:
        return str(self._head(key).get("ContentType") or DEFAULT_CONTENT_TYPE)

    def list(self, prefix: str = "") -> builtins.list[str]:
        folder = folder_of(prefix)
        keys: builtins.list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder, PaginationConfig={"PageSize": self.page_size}
        ):
            # S3Proxy's filesystem backend reports folders as keys ending in "/"; no valid key
            # does, so they are never objects of ours.
            keys.extend(
                item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")
            )
        return sorted(keys)

    def _subfolders(self, folder: str) -> builtins.list[str]:
        names: builtins.list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket,
            Prefix=folder,
            Delimiter="/",
            PaginationConfig={"PageSize": self.page_size},
        ):
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
        # DeleteObjects takes at most 1000 keys per request.
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise ObjectStoreError(
                    f"could not delete {len(errors)} objects under {prefix!r}; first: "
                    f"{first.get('Key')!r} ({first.get('Code')}: {first.get('Message')})"
                )
        return len(keys)

    def presign(self, key: str, expires_s: int, method: str = "GET") -> str:
        method = _check_presign(expires_s, method)
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


def _status(error: ClientError) -> int | None:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


@contextlib.contextmanager
def _s3_not_found(key: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "NoSuchBucket":
            raise
        if code in {"404", "NoSuchKey", "NotFound"} or _status(exc) == 404:
            raise ObjectNotFound(key) from exc
        raise


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


@dataclass(frozen=True)
class StoreConfig:
    """Where a deployment keeps its objects: a local directory or an S3 bucket."""

    kind: str
    local_dir: Path | None
    base_url: str
    signing_secret: str
    bucket: str
    endpoint_url: str | None
    region: str
    access_key_id: str
    secret_access_key: str

    def open(self) -> ObjectStore:
        """The store this configuration names."""
        if self.kind == "s3":
            client = s3_client(
                self.endpoint_url, self.region, self.access_key_id, self.secret_access_key
            )
            return S3ObjectStore(self.bucket, client)
        if self.kind == "local":
            if self.local_dir is None:
                raise ValueError("a local object store needs a directory")
            return LocalObjectStore(self.local_dir, self.base_url, self.signing_secret.encode())
        raise ValueError(f"unknown object store {self.kind!r}")
