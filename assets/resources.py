"""The resources the assets use: the catalog, history, objects, media and model settings.

Each is built from its own configuration, which the resource map of the deployment fills in
(`pipelines/resources.py`); secrets arrive as `EnvVar`s, so the Dagster UI shows only names.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from media.probe import Limits
from storage.catalog import Catalog
from storage.history import History
from storage.objects import ObjectStore, StoreConfig


class CatalogResource(ConfigurableResource):
    """The PostgreSQL catalog: users, videos, stream assets, DRM keys, uploads."""

    dsn: str
    pool_max: int = 4
    _catalog: Catalog | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._catalog = Catalog(self.dsn, max_size=self.pool_max)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._catalog is not None:
            self._catalog.close()

    @property
    def catalog(self) -> Catalog:
        assert self._catalog is not None, "resource used outside of an execution"
        return self._catalog


class HistoryResource(ConfigurableResource):
    """Viewing history and watch events in Cassandra."""

    contact_points: list[str]
    port: int
    keyspace: str
    local_dc: str
    read_consistency: str
    write_consistency: str
    event_buckets: int
    watch_event_ttl_days: int
    pseudonym_key: str
    _history: History | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._history = History.connect(
            self.contact_points,
            self.port,
            self.keyspace,
            local_dc=self.local_dc,
            buckets=self.event_buckets,
            event_ttl_days=self.watch_event_ttl_days,
            read_consistency=self.read_consistency,
            write_consistency=self.write_consistency,
        )

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._history is not None:
            self._history.close()

    @property
    def history(self) -> History:
        assert self._history is not None, "resource used outside of an execution"
        return self._history


class ObjectStoreResource(ConfigurableResource):
    """Media objects: a local directory or an S3 bucket, behind the CDN base URL."""

    kind: str
    local_dir: str | None = None
    s3_bucket: str
    s3_endpoint_url: str | None = None
    s3_region: str
    s3_access_key_id: str
    s3_secret_access_key: str
    cdn_base_url: str
    url_signing_secret: str
    # Where the API gathers the chunks of local uploads (on the API's host).
    partial_dir: str | None = None

    def store(self) -> ObjectStore:
        return StoreConfig(
            kind=self.kind,
            local_dir=Path(self.local_dir) if self.local_dir else None,
            base_url=self.cdn_base_url,
            signing_secret=self.url_signing_secret,
            bucket=self.s3_bucket,
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            access_key_id=self.s3_access_key_id,
            secret_access_key=self.s3_secret_access_key,
        ).open()


class RecommenderResource(ConfigurableResource):
    """How recommendation models are trained and when one is good enough to serve."""

    training_days: int
    promotion_margin: float
    min_test_users: int
    eval_precision: float
    max_eval_users: int
    k: int = 10


class MediaResource(ConfigurableResource):
    """How videos are validated, encoded, protected and addressed."""

    work_dir: str
    segment_s: float
    max_duration_s: float
    max_width: int
    max_height: int
    drm_scheme: str
    drm_master_key: str
    ssim_floor: float
    x264_preset: str
    cdn_base_url: str
    api_base_url: str

    def limits(self) -> Limits:
        return Limits(
            max_duration_s=self.max_duration_s, max_width=self.max_width, max_height=self.max_height
        )

    @contextmanager
    def step_dir(self) -> Iterator[Path]:
        """A directory of one step's own, under the work directory, removed when the step ends
        however it ends: steps hand each other object keys, never files."""
        root = Path(self.work_dir)
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="step-", dir=root) as directory:
            yield Path(directory)

    def hls_key_uri(self, video_id: str) -> str:
        return f"{self.api_base_url}/api/v1/drm/hls-key/{video_id}"

    def cdn_url(self, key: str) -> str:
        return f"{self.cdn_base_url.rstrip('/')}/{key}"
