"""Which store a deployment uses, from explicit values (the wiring fills them from settings)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from storage.objects.base import ObjectStore
from storage.objects.local import LocalObjectStore
from storage.objects.s3 import S3ObjectStore, s3_client


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
