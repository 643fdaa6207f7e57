"""What a refused step of an upload raises: a stable `code`, a message for people, and where
the client needs them the bytes received so far (`offset`, where to resume) and the declared size
(`length`)."""

from __future__ import annotations

from storage.catalog import Upload


class UploadError(Exception):
    """A step of an upload refused; `code` is stable, the message is for people."""

    def __init__(
        self, code: str, message: str, *, offset: int | None = None, length: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.length = length


class UploadNotFound(UploadError):
    """No upload has this id."""


class UploadExpired(UploadError):
    """The upload has expired: the client starts a new one."""


class UploadConflict(UploadError):
    """The upload is not in a state for this step: closed, finished, busy, or elsewhere; or
    the account has as many uploads open, or bytes on their way, as it may."""


class InvalidChunk(UploadError):
    """A chunk's `Content-Range` is malformed, or its body is not as long as it says."""


class InvalidPartList(UploadError):
    """The parts listed to complete a multipart upload are missing or repeated."""


class UploadTooLarge(UploadError):
    """The declared file, or a chunk, is over its limit."""


class LargerThanDeclared(UploadError):
    """A chunk's `Content-Range` names a larger file than the one declared."""


class NotAVideo(UploadError):
    """The declared content type, or the stored file, is not a video's."""


def resume_at(offset: int, upload: Upload) -> dict[str, int]:
    """The `offset` and `length` of a refusal that tells the client where to resume."""
    return {"offset": offset, "length": upload.size_bytes}
