"""Resources per deployment: the same keys in each map, built from one `Settings`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from dagster_pyspark import PySparkResource
from pydantic import PrivateAttr

from media.probe import Limits
from reelflow.settings import Settings
from storage import uploads
from storage.catalog import Catalog
from storage.history import History
from storage.objects import ObjectStore, object_store_from_settings
from storage.spark import spark_config


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
    replication: str
    event_buckets: int
    watch_event_ttl_days: int
    pseudonym_key: str
    _history: History | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        # Validated from this resource's config alone, not from the environment.
        return Settings.model_validate(
            {
                "cassandra_contact_points": self.contact_points,
                "cassandra_port": self.port,
                "cassandra_keyspace": self.keyspace,
                "cassandra_replication": self.replication,
                "cassandra_event_buckets": self.event_buckets,
                "watch_event_ttl_days": self.watch_event_ttl_days,
            }
        )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._history = History.connect(self.settings())

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
        # Validated from this resource's config alone, not from the environment.
        return object_store_from_settings(
            Settings.model_validate(
                {
                    "object_store": self.kind,
                    "object_store_dir": self.local_dir,
                    "s3_bucket": self.s3_bucket,
                    "s3_endpoint_url": self.s3_endpoint_url,
                    "s3_region": self.s3_region,
                    "s3_access_key_id": self.s3_access_key_id,
                    "s3_secret_access_key": self.s3_secret_access_key,
                    "cdn_base_url": self.cdn_base_url,
                    "url_signing_secret": self.url_signing_secret,
                }
            )
        )


class RecommenderResource(ConfigurableResource):
    """How recommendation models are trained and when one is good enough to serve."""

    training_days: int
    promotion_margin: float
    min_test_users: int
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

    def video_dir(self, video_id: str) -> Path:
        """Working files of one video; re-runs of its partition reuse and replace them."""
        return Path(self.work_dir) / video_id

    def hls_key_uri(self, video_id: str) -> str:
        return f"{self.api_base_url}/api/v1/drm/hls-key/{video_id}"

    def cdn_url(self, key: str) -> str:
        return f"{self.cdn_base_url.rstrip('/')}/{key}"


def _shared(settings: Settings) -> dict[str, Any]:
    return {
        "catalog": CatalogResource(dsn=settings.postgres_dsn, pool_max=settings.postgres_pool_max),
        "history": HistoryResource(
            contact_points=settings.cassandra_contact_points,
            port=settings.cassandra_port,
            keyspace=settings.cassandra_keyspace,
            replication=settings.cassandra_replication,
            event_buckets=settings.cassandra_event_buckets,
            watch_event_ttl_days=settings.watch_event_ttl_days,
            pseudonym_key=settings.analytics_pseudonym_key.get_secret_value(),
        ),
        "object_store": ObjectStoreResource(
            kind=settings.object_store,
            local_dir=str(settings.objects_dir) if settings.object_store == "local" else None,
            s3_bucket=settings.s3_bucket,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
            s3_access_key_id=settings.s3_access_key_id,
            s3_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
            cdn_base_url=settings.cdn_base_url,
            url_signing_secret=settings.url_signing_secret.get_secret_value(),
            partial_dir=str(uploads.partial_dir(settings)),
        ),
        "pyspark": PySparkResource(spark_config=spark_config(settings)),
        "recommender": RecommenderResource(
            training_days=settings.reco_training_days,
            promotion_margin=settings.reco_promotion_margin,
            min_test_users=settings.reco_min_test_users,
            max_eval_users=settings.reco_max_eval_users,
        ),
        "media": MediaResource(
            work_dir=str(settings.media_work_dir),
            segment_s=settings.segment_s,
            max_duration_s=settings.max_source_duration_s,
            max_width=settings.max_source_width,
            max_height=settings.max_source_height,
            drm_scheme=settings.drm_scheme,
            drm_master_key=settings.drm_master_key.get_secret_value(),
            ssim_floor=settings.quality_ssim_floor,
            x264_preset=settings.x264_preset,
            cdn_base_url=settings.cdn_base_url,
            api_base_url=settings.api_base_url,
        ),
    }


def _local(settings: Settings) -> dict[str, Any]:
    return _shared(settings)


def _prod(settings: Settings) -> dict[str, Any]:
    if settings.object_store != "s3":
        raise ValueError("deployment 'prod' publishes to S3: set REELFLOW_OBJECT_STORE=s3")
    return _shared(settings)


RESOURCES: dict[str, Callable[[Settings], dict[str, Any]]] = {"local": _local, "prod": _prod}


def resources_for(settings: Settings) -> dict[str, Any]:
    """The resource map of the settings' deployment."""
    return RESOURCES[settings.deployment](settings)
