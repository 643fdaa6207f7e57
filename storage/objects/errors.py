"""What the object stores raise."""

from __future__ import annotations


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


class MultipartError(ObjectStoreError):
    """The store refused a step of a multipart upload; `code` is S3's name for the reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code


class MultipartNotFound(MultipartError):
    """No open multipart upload has this id and key (never started, completed or aborted)."""

    def __init__(self, key: str, upload_id: str) -> None:
        super().__init__("NoSuchUpload", f"no open multipart upload {upload_id!r} of {key!r}")
        self.key = key
        self.upload_id = upload_id


class InvalidParts(MultipartError):
    """The parts listed to complete a multipart upload do not match the parts uploaded."""
