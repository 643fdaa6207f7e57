"""The local store: objects as files under a root directory, served by the API as the CDN origin.

Multipart uploads keep their parts under `<root>/.reelflow-multipart/<upload id>/` (reserved
names never appear as keys) until completing assembles them into the object in one rename.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import quote, urlencode

from storage.objects.base import (
    MIN_PART_BYTES,
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
    MultipartNotFound,
    ObjectNotFound,
    ObjectStoreError,
)
from storage.objects.keys import (
    RESERVED_PREFIX,
    folder_of,
    guess_content_type,
    validate_key,
)

_TEMP_PREFIX = RESERVED_PREFIX + "tmp-"
_TYPE_PREFIX = RESERVED_PREFIX + "type."
_MULTIPART_DIR = RESERVED_PREFIX + "multipart"
_MULTIPART_META = "upload.json"
_UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")
_EXPIRES_RE = re.compile(r"\d{1,12}")
_COPY_CHUNK = 1024 * 1024


def _local_signature(
    secret: bytes, key: str, expires: int, method: str, part: tuple[str, int] | None = None
) -> str:
    message = f"{method}\n{key}\n{expires}"
    if part is not None:
        message += f"\n{part[0]}\n{part[1]}"
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def verify_local_signature(
    secret: bytes,
    key: str,
    expires: int | str,
    method: str,
    signature: str,
    now: float | None = None,
    *,
    part: tuple[str, int] | None = None,
) -> bool:
    """True if a local presigned URL's parameters are authentic and not yet expired; a part
    URL's also name its `(upload id, part number)`."""
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
    expected = _local_signature(secret, key, expires, method.upper(), part)
    return hmac.compare_digest(expected.encode(), signature.encode())


class LocalObjectStore(ObjectStore):
    """Objects as files under `root`, served by the API as the CDN origin at `base_url`."""

    # Its presigned URLs point at the API's CDN route, which serves reads only.
    presigned_puts = False

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

    def move_file(self, key: str, path: Path, content_type: str | None = None) -> None:
        target = self.path(key)
        self._record_type(key, target, content_type)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Objects are served by other processes of the same deployment.
            os.chmod(path, 0o644)
            os.replace(path, target)
        except OSError:
            # Another file system, or a folder in the way: copying says which, atomically.
            super().move_file(key, path, content_type)

    def copy(self, source_key: str, target_key: str) -> None:
        source, target = self.path(source_key), self.path(target_key)
        self._record_type(target_key, target, self.stat(source_key).content_type)
        try:
            _link(source, target)
        except OSError:
            # No hard link there, or a folder in the way: copying the bytes says which.
            with _local_not_found(source_key):
                original = open(source, "rb")
            with original:
                _atomic_write(
                    target, lambda out: shutil.copyfileobj(original, out, _COPY_CHUNK), target_key
                )

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

    def open_range(self, key: str, first: int = 0, last: int | None = None) -> ObjectStream:
        check_range(first, last)
        with _local_not_found(key):
            file = open(self.path(key), "rb")
        file.seek(first)
        remaining = None if last is None else last - first + 1
        return ObjectStream(_file_chunks(file, remaining), file.close)

    def download(self, key: str, path: Path) -> None:
        with _local_not_found(key):
            source = open(self.path(key), "rb")
        with source:
            _atomic_write(
                Path(path), lambda out: shutil.copyfileobj(source, out, _COPY_CHUNK), str(path)
            )

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def stat(self, key: str) -> ObjectStat:
        path = self.path(key)
        with _local_not_found(key):
            info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ObjectNotFound(key)
        try:
            content_type = self._type_path(path).read_text().strip()
        except FileNotFoundError:
            content_type = guess_content_type(key)
        return ObjectStat(
            size=info.st_size,
            content_type=content_type,
            etag=f'"{info.st_size:x}-{info.st_mtime_ns:x}"',
            modified=datetime.fromtimestamp(info.st_mtime_ns / 1e9, UTC),
        )

    def list(self, prefix: str = "") -> builtins.list[str]:
        return sorted(key for key, _ in self._walk(folder_of(prefix)))

    def _walk(self, folder: str) -> Iterator[tuple[str, Path]]:
        top = self.root.joinpath(*folder.split("/")) if folder else self.root
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [name for name in dirnames if not name.startswith(RESERVED_PREFIX)]
            base = Path(dirpath)
            relative = base.relative_to(self.root).as_posix()
            for name in filenames:
                if not name.startswith(RESERVED_PREFIX):
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
                    if not name.startswith(RESERVED_PREFIX):
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
            entries = [entry.name for entry in top.iterdir() if entry.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [name for name in entries if not name.startswith(RESERVED_PREFIX)]

    def presign(self, key: str, expires_s: int, method: str = "GET") -> str:
        return self._signed_url(key, expires_s, check_presign(expires_s, method))

    def _signed_url(
        self, key: str, expires_s: int, method: str, part: tuple[str, int] | None = None
    ) -> str:
        validate_key(key)
        expires = int(time.time()) + expires_s
        fields: dict[str, str | int] = {}
        if part is not None:
            fields = {"uploadId": part[0], "partNumber": part[1]}
        fields |= {
            "expires": expires,
            "method": method,
            "signature": _local_signature(self._secret, key, expires, method, part),
        }
        return f"{self.base_url}/{quote(key, safe='/')}?{urlencode(fields)}"

    # Multipart uploads

    @property
    def _multipart_root(self) -> Path:
        return self.root / _MULTIPART_DIR

    def start_multipart(self, key: str, content_type: str | None = None) -> str:
        validate_key(key)
        upload_id = secrets.token_hex(16)
        meta = {
            "key": key,
            "content_type": content_type or guess_content_type(key),
            "initiated": datetime.now(UTC).isoformat(),
        }
        directory = self._multipart_root / upload_id
        _atomic_write(directory / _MULTIPART_META, lambda out: out.write(json.dumps(meta).encode()))
        return upload_id

    def _multipart(self, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        """The folder and description of the open upload `upload_id` of `key`."""
        validate_key(key)
        if not isinstance(upload_id, str) or not _UPLOAD_ID_RE.fullmatch(upload_id):
            raise MultipartNotFound(key, str(upload_id))
        directory = self._multipart_root / upload_id
        try:
            meta: dict[str, Any] = json.loads((directory / _MULTIPART_META).read_bytes())
        except FileNotFoundError:
            raise MultipartNotFound(key, upload_id) from None
        if meta.get("key") != key:
            raise MultipartNotFound(key, upload_id)
        return directory, meta

    def part_url(
        self, key: str, upload_id: str, number: int, expires_s: int, length: int | None = None
    ) -> str:
        # The local store takes parts through `upload_part` only (`presigned_puts` is False):
        # its part URLs are never served, so there is no body to hold to `length`.
        if length is not None:
            raise ValueError("local part URLs do not carry a length")
        check_presign(expires_s, "PUT")
        return self._signed_url(key, expires_s, "PUT", (upload_id, check_part_number(number)))

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        check_part_number(number)
        directory, _ = self._multipart(key, upload_id)
        try:
            # No parents made: a part arriving after an abort must not revive the upload.
            _atomic_write(_part_path(directory, number), lambda out: out.write(data), parents=False)
        except FileNotFoundError:
            raise MultipartNotFound(key, upload_id) from None
        return f'"{hashlib.md5(data).hexdigest()}"'

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[Part]) -> None:
        directory, meta = self._multipart(key, upload_id)
        if not parts:
            raise InvalidParts("InvalidRequest", "a multipart upload needs at least one part")
        numbers = [part.number for part in parts]
        if any(later <= earlier for earlier, later in zip(numbers, numbers[1:], strict=False)):
            raise InvalidParts("InvalidPartOrder", "list the parts in ascending order of number")
        paths = [_part_path(directory, number) for number in numbers]
        for number, path in zip(numbers[:-1], paths[:-1], strict=True):
            if path.is_file() and path.stat().st_size < MIN_PART_BYTES:
                raise InvalidParts("EntityTooSmall", f"part {number} is under {MIN_PART_BYTES} B")

        def assemble(out: IO[bytes]) -> None:
            for part, path in zip(parts, paths, strict=True):
                try:
                    source = open(path, "rb")
                except FileNotFoundError:
                    message = f"part {part.number} was not uploaded"
                    raise InvalidParts("InvalidPart", message) from None
                with source:
                    digest = _copy_hashing(source, out)
                if digest != part.etag.strip().strip('"'):
                    raise InvalidParts("InvalidPart", f"part {part.number}'s ETag differs")

        target = self.path(key)
        _atomic_write(target, assemble, key)
        self._record_type(key, target, meta.get("content_type"))
        shutil.rmtree(directory, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> bool:
        try:
            directory, _ = self._multipart(key, upload_id)
        except MultipartNotFound:
            return False
        shutil.rmtree(directory, ignore_errors=True)
        return True

    def list_multipart(self, prefix: str = "") -> builtins.list[MultipartUpload]:
        folder = folder_of(prefix)
        uploads = []
        try:
            directories = list(self._multipart_root.iterdir())
        except FileNotFoundError:
            return []
        for directory in directories:
            try:
                meta = json.loads((directory / _MULTIPART_META).read_bytes())
            except (FileNotFoundError, NotADirectoryError):
                continue
            if meta["key"].startswith(folder):
                initiated = datetime.fromisoformat(meta["initiated"])
                uploads.append(MultipartUpload(meta["key"], directory.name, initiated))
        return sorted(uploads, key=lambda upload: (upload.key, upload.initiated))


def _part_path(directory: Path, number: int) -> Path:
    return directory / f"part-{number:05d}"


def _copy_hashing(source: BinaryIO, out: IO[bytes]) -> str:
    """Copy `source` to `out`; the MD5 of what was copied, in hex."""
    digest = hashlib.md5()
    while chunk := source.read(_COPY_CHUNK):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def _file_chunks(file: BinaryIO, remaining: int | None) -> Iterator[bytes]:
    while remaining is None or remaining > 0:
        chunk = file.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _atomic_write(
    target: Path, write: Callable[[IO[bytes]], object], key: str = "", *, parents: bool = True
) -> None:
    # A concurrent delete may remove the (then empty) parent between mkdir and mkstemp.
    for attempt in range(3):
        try:
            if parents:
                target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=target.parent)
            break
        except FileNotFoundError:
            if attempt == 2 or not parents:
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


def _link(source: Path, target: Path) -> None:
    """Give the file `source` the name `target` too, replacing what `target` named at once.

    Sharing one file between two keys is safe because no object is ever written in place: every
    write makes a new file and renames it over the key.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{_TEMP_PREFIX}{secrets.token_hex(8)}")
    os.link(source, temp)
    try:
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def _local_not_found(key: str) -> Iterator[None]:
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise ObjectNotFound(key) from exc
