"""Object storage for media and published streams: a local directory or an S3 bucket.

Both stores speak the same interface and give the same answers, so code and tests written
against `ObjectStore` run unchanged on either; callers never need to know which one they have.

Keys are `/`-separated paths such as `videos/42/hls/master.m3u8` (see `validate_key`).
A *prefix* names a folder: `list("a/b")` and `list("a/b/")` both return the keys under
`a/b/` and never `a/bc/...` nor the object `a/b` itself; the empty prefix means "everything".

Publishing is atomic per prefix: `publish(prefix, dir)` uploads the directory under
`prefix/<version>/` and only then rewrites the pointer object `prefix/CURRENT`, so a reader that
resolves CURRENT first never sees a half-uploaded version. `publish_copies(prefix, folders)` does
the same from folders already in the store.

Copies stay inside the store (`copy`, `copy_prefix`): S3 copies server-side, the local store
links the file under a second name; no byte passes through the caller.

Large files arrive as multipart uploads (`start_multipart`, parts by presigned `part_url` or
`upload_part`, then `complete_multipart` or `abort_multipart`): nothing is stored under the key
until the parts are assembled into it at once.

    keys     names: key rules, prefixes, content types, versions
    errors   what the stores raise
    base     the `ObjectStore` interface and what every store does alike (publish, prune)
    local    `LocalObjectStore` (files under a directory)
    s3       `S3ObjectStore` and the boto3 client
    config   `StoreConfig`: which store a deployment uses
"""

from storage.objects.base import (
    MAX_PARTS,
    MAX_PRESIGN_EXPIRY_S,
    MIN_PART_BYTES,
    PRESIGN_METHODS,
    MultipartUpload,
    ObjectStat,
    ObjectStore,
    ObjectStream,
    Part,
)
from storage.objects.config import StoreConfig
from storage.objects.errors import (
    InvalidKey,
    InvalidParts,
    MultipartError,
    MultipartNotFound,
    ObjectNotFound,
    ObjectStoreError,
)
from storage.objects.keys import (
    CONTENT_TYPES,
    CURRENT,
    DEFAULT_CONTENT_TYPE,
    MANIFEST_SUFFIXES,
    MAX_KEY_BYTES,
    VERSION_RE,
    folder_of,
    guess_content_type,
    new_version,
    validate_key,
)
from storage.objects.local import LocalObjectStore, verify_local_signature
from storage.objects.s3 import S3ObjectStore, s3_client

__all__ = [
    "CONTENT_TYPES",
    "CURRENT",
    "DEFAULT_CONTENT_TYPE",
    "MANIFEST_SUFFIXES",
    "MAX_KEY_BYTES",
    "MAX_PARTS",
    "MAX_PRESIGN_EXPIRY_S",
    "MIN_PART_BYTES",
    "PRESIGN_METHODS",
    "VERSION_RE",
    "InvalidKey",
    "InvalidParts",
    "LocalObjectStore",
    "MultipartError",
    "MultipartNotFound",
    "MultipartUpload",
    "ObjectNotFound",
    "ObjectStat",
    "ObjectStore",
    "ObjectStoreError",
    "ObjectStream",
    "Part",
    "S3ObjectStore",
    "StoreConfig",
    "folder_of",
    "guess_content_type",
    "new_version",
    "s3_client",
    "validate_key",
    "verify_local_signature",
]
