"""The upload of a video's source, from the ticket to the sweep of what unfinished uploads leave.

How the bytes travel is the store's to say. A store that takes presigned PUTs (S3) receives them
straight from the client as a multipart upload: the ticket lists a presigned URL per part, and
completing assembles the parts the client lists with their ETags. Any other store receives them
through the API in chunks sent with `Content-Range: bytes a-b/total`, gathered in a partial file
that moves into the store in one step once whole. Completing checks that the stored file has the
declared size and starts like a video; the hourly sweep deletes what closed uploads left.

    flow     open an upload (the ticket), complete it, discard a deleted video's uploads
    chunks   the chunks of an upload through the API, gathered in a locked partial file
    sweep    expire overdue uploads; remove partial files and multipart uploads of closed ones
    errors   `UploadError` and its kinds, each with a stable code
"""

from storage.uploads.chunks import (
    PARTIAL_SUFFIX,
    Chunk,
    ContentRange,
    Progress,
    discard_partial,
    finish_assembled,
    parse_content_range,
    partial_file,
    receive_chunk,
    receiving_upload,
    upload_offset,
)
from storage.uploads.errors import (
    InvalidChunk,
    InvalidPartList,
    LargerThanDeclared,
    NotAVideo,
    UploadConflict,
    UploadError,
    UploadExpired,
    UploadNotFound,
    UploadTooLarge,
)
from storage.uploads.flow import (
    ACCEPTED_CONTENT_TYPES,
    SOURCE_PREFIX,
    Completed,
    NewVideo,
    Ticket,
    complete_upload,
    content_type_accepted,
    discard_uploads,
    open_upload,
    part_size,
    source_key,
)
from storage.uploads.sweep import MULTIPART_GRACE, UploadSweep, sweep_uploads

__all__ = [
    "ACCEPTED_CONTENT_TYPES",
    "MULTIPART_GRACE",
    "PARTIAL_SUFFIX",
    "SOURCE_PREFIX",
    "Chunk",
    "Completed",
    "ContentRange",
    "InvalidChunk",
    "InvalidPartList",
    "LargerThanDeclared",
    "NewVideo",
    "NotAVideo",
    "Progress",
    "Ticket",
    "UploadConflict",
    "UploadError",
    "UploadExpired",
    "UploadNotFound",
    "UploadSweep",
    "UploadTooLarge",
    "complete_upload",
    "content_type_accepted",
    "discard_partial",
    "discard_uploads",
    "finish_assembled",
    "open_upload",
    "parse_content_range",
    "part_size",
    "partial_file",
    "receive_chunk",
    "receiving_upload",
    "source_key",
    "sweep_uploads",
    "upload_offset",
]
