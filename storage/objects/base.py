"""The `ObjectStore` interface, what its methods return, and what every store does alike
(trees, publishing, pruning)."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import ClassVar, NamedTuple

from storage.objects.errors import InvalidKey, ObjectNotFound
from storage.objects.keys import (
    CURRENT,
    MANIFEST_SUFFIXES,
    VERSION_RE,
    folder_of,
    guess_content_type,
    new_version,
    validate_key,
)

PRESIGN_METHODS = frozenset({"GET", "PUT"})
# SigV4 presigned URLs are valid for at most 7 days; the local store keeps the same limit.
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600
# S3's multipart limits, kept by both stores: parts are numbered 1..10,000, and every part but
# the last holds at least 5 MiB.
MAX_PARTS = 10_000
MIN_PART_BYTES = 5 * 1024**2
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ObjectStat:
    """What a store knows about an object without reading it."""

    size: int
    content_type: str
    # A quoted validator that changes whenever the object is written again (HTTP's ETag).
    etag: str
    modified: datetime


class Part(NamedTuple):
    """An uploaded part of a multipart upload: its number and the ETag its upload returned."""

    number: int
    etag: str


@dataclass(frozen=True)
class MultipartUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime


class ObjectStream:
    """Bytes of an object being read: iterate for chunks or `read()` them all, then close (or
    use it as a context manager). Iterating to the end closes it."""

    def __init__(self, chunks: Iterable[bytes], close: Callable[[], object]) -> None:
        self._chunks = chunks
        self._close = close
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def read(self) -> bytes:
        """Every remaining byte."""
        return b"".join(self)

    def close(self) -> None:
        """Release the file or connection; safe to call again."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def check_presign(expires_s: int, method: str) -> str:
    """The upper-case method, if a presigned URL may allow it for `expires_s` seconds."""
    if not isinstance(expires_s, int) or not 1 <= expires_s <= MAX_PRESIGN_EXPIRY_S:
        raise ValueError(f"expires_s must be an int in 1..{MAX_PRESIGN_EXPIRY_S}, not {expires_s}")
    upper = method.upper()
    if upper not in PRESIGN_METHODS:
        raise ValueError(f"presigned URLs support {sorted(PRESIGN_METHODS)}, not {method!r}")
    return upper


def check_part_number(number: int) -> int:
    """`number` if it can number a part, else ValueError."""
    if not isinstance(number, int) or not 1 <= number <= MAX_PARTS:
        raise ValueError(f"part numbers run from 1 to {MAX_PARTS}, not {number!r}")
    return number


def check_range(first: int, last: int | None) -> None:
    """ValueError unless `[first, last]` is a byte range (`last` None: to the end)."""
    if first < 0 or (last is not None and last < first):
        raise ValueError(f"[{first}, {last}] is not a byte range")


class ObjectStore(ABC):
    """A flat namespace of immutable-per-write objects addressed by key."""

    # True when presigned PUT URLs (`presign(..., "PUT")`, `part_url`) reach the store itself,
    # so that clients can upload without the application in the way.
    presigned_puts: ClassVar[bool]

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store `data` under `key`; the content type defaults to the extension's."""

    @abstractmethod
    def put_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Store the local file `path` under `key`; the content type defaults to the extension's."""

    def move_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        """Store the local file `path` under `key` and remove it (a rename where it can be)."""
        self.put_file(key, path, content_type)
        Path(path).unlink()

    @abstractmethod
    def copy(self, source_key: str, target_key: str) -> None:
        """Store the object `source_key` (bytes and content type) under `target_key` too, inside
        the store: the bytes never pass through this process. `ObjectNotFound` if missing."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; `ObjectNotFound` if missing."""

    @abstractmethod
    def open_range(self, key: str, first: int = 0, last: int | None = None) -> ObjectStream:
        """The object's bytes `first` to `last` (inclusive; None or past the end: to the end).

        The object is opened before this returns, so a missing one raises `ObjectNotFound` here
        rather than halfway through reading; a range starting at or past the end is empty.
        """

    @abstractmethod
    def download(self, key: str, path: Path) -> None:
        """Write the object to the local file `path` (created atomically, parents too)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True if an object is stored under `key`."""

    @abstractmethod
    def stat(self, key: str) -> ObjectStat:
        """The object's size, content type, ETag and modification time; `ObjectNotFound`."""

    def size(self, key: str) -> int:
        """The object's size in bytes; `ObjectNotFound` if missing."""
        return self.stat(key).size

    def content_type(self, key: str) -> str:
        """The object's content type; `ObjectNotFound` if missing."""
        return self.stat(key).content_type

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
    def start_multipart(self, key: str, content_type: str | None = None) -> str:
        """Start a multipart upload to `key`; its upload id. Nothing is stored under `key`
        until `complete_multipart`."""

    @abstractmethod
    def part_url(
        self, key: str, upload_id: str, number: int, expires_s: int, length: int | None = None
    ) -> str:
        """A presigned URL to PUT part `number` of the upload for `expires_s` seconds; the
        answer's `ETag` header is what `complete_multipart` needs. With `length`, the URL takes
        a body of exactly that many bytes (the length is part of what is signed)."""

    @abstractmethod
    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Upload part `number` (replacing an earlier upload of it); its ETag, the quoted MD5 of
        `data`. `MultipartNotFound` if the upload is not open."""

    @abstractmethod
    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[Part]) -> None:
        """Store the listed parts, in ascending order of number, as the object `key`, at once.

        `InvalidParts` if a part is missing, its ETag differs, the numbers are not ascending or
        a part but the last is under 5 MiB; `MultipartNotFound` if the upload is not open.
        """

    @abstractmethod
    def abort_multipart(self, key: str, upload_id: str) -> bool:
        """Discard the upload and its parts; False if it was not open (no error)."""

    @abstractmethod
    def list_multipart(self, prefix: str = "") -> builtins.list[MultipartUpload]:
        """The open multipart uploads to keys under the folder `prefix`, by key then start."""

    @abstractmethod
    def _subfolders(self, folder: str) -> builtins.list[str]:
        """Names of the folders directly under the normalised `folder`."""

    def _put_files(self, items: Sequence[tuple[str, Path, str]]) -> None:
        for key, path, content_type in items:
            self.put_file(key, path, content_type)

    def _copy_keys(self, pairs: Sequence[tuple[str, str]]) -> None:
        for source, target in pairs:
            self.copy(source, target)

    def _download_files(self, pairs: Sequence[tuple[str, Path]]) -> None:
        for key, path in pairs:
            self.download(key, path)

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

    def copy_prefix(self, source: str, target: str) -> builtins.list[str]:
        """Copy every object under the folder `source` to the same path under `target`, inside
        the store, manifests last (as `put_tree`); the keys written, sorted."""
        return self._copy_folders({target: source})

    def _copy_folders(self, folders: Mapping[str, str]) -> builtins.list[str]:
        """Copy each source folder (the values) below its target folder (the keys)."""
        media: builtins.list[tuple[str, str]] = []
        manifests: builtins.list[tuple[str, str]] = []
        for target, source in folders.items():
            into, origin = folder_of(target), folder_of(source)
            if not into:
                raise InvalidKey(target, "copying needs a non-empty target prefix")
            for key in self.list(origin):
                pair = (key, validate_key(into + key[len(origin) :]))
                suffix = Path(key).suffix.lower()
                (manifests if suffix in MANIFEST_SUFFIXES else media).append(pair)
        self._copy_keys(media)
        self._copy_keys(manifests)
        return sorted(target for _, target in media + manifests)

    def publish(self, prefix: str, directory: Path) -> str:
        """Upload `directory` as a new version of `prefix`, then make it current; the version."""
        base = _publish_base(prefix)
        version = new_version()
        if not self.put_tree(f"{base}/{version}", directory):
            raise ValueError(f"{directory} holds no files to publish")
        self.point(prefix, version)
        return version

    def publish_copies(self, prefix: str, folders: Mapping[str, str]) -> str:
        """Copy each folder of the store (`folders`: name in the version -> source prefix) into
        a new version of `prefix`, then make it current; the version."""
        base = _publish_base(prefix)
        version = new_version()
        targets = {f"{base}/{version}/{name}": source for name, source in folders.items()}
        if not self._copy_folders(targets):
            raise ValueError(f"{sorted(folders.values())} hold no objects to publish")
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
        self._download_files([(key, Path(directory) / key[len(folder) :]) for key in keys])
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
