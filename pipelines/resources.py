"""Resources per deployment: the same keys in each map, filled in from one `Settings`.

Secrets reach the resources as `EnvVar`s, read when a run starts: the Dagster UI and its API
show the variables' names, never their values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from dagster import (
    ConfigurableIOManager,
    ConfigurableIOManagerFactory,
    EnvVar,
    FilesystemIOManager,
)
from dagster_pyspark import PySparkResource
from pydantic import SecretStr

from assets.resources import (
    CatalogResource,
    HistoryResource,
    MediaResource,
    ObjectStoreResource,
    RecommenderResource,
)
from reelflow import connect
from reelflow.settings import Settings


def secret(settings: Settings, field: str) -> str:
    """The setting `field` as the environment variable that holds it, read when a run starts.

    A secret left at its default (the dev stack's local-only values) is put in this process's
    environment, where the runs it starts find it too. A value set in code rather than by the
    environment has no variable to name and is passed as it is.
    """
    name = f"REELFLOW_{field.upper()}"
    value = _plain(getattr(settings, field))
    current = os.environ.get(name)
    if current is None and value == _plain(Settings.model_fields[field].default):
        os.environ[name] = current = value
    return EnvVar(name) if current == value else value


def _plain(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


# Where step outputs are pickled in the bucket of an S3 deployment.
IO_PREFIX = "dagster/io"


def io_manager(settings: Settings) -> ConfigurableIOManager | ConfigurableIOManagerFactory:
    """Where steps leave their outputs for the next ones: in the bucket beside the media when the
    objects are in S3, so that a step may run on any host; else under `DAGSTER_HOME`."""
    if settings.object_store != "s3":
        return FilesystemIOManager()
    # Imported here: dagster-aws costs a run half a second of start-up it needs only with S3.
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    return S3PickleIOManager(
        s3_resource=S3Resource(
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret(settings, "s3_secret_access_key"),
        ),
        s3_bucket=settings.s3_bucket,
        s3_prefix=IO_PREFIX,
    )


def _shared(settings: Settings) -> dict[str, Any]:
    return {
        "io_manager": io_manager(settings),
        # The DSN carries the database password.
        "catalog": CatalogResource(
            dsn=secret(settings, "postgres_dsn"), pool_max=settings.postgres_pool_max
        ),
        "history": HistoryResource(
            contact_points=settings.cassandra_contact_points,
            port=settings.cassandra_port,
            keyspace=settings.cassandra_keyspace,
            local_dc=settings.cassandra_local_dc,
            read_consistency=settings.cassandra_read_consistency,
            write_consistency=settings.cassandra_write_consistency,
            event_buckets=settings.cassandra_event_buckets,
            watch_event_ttl_days=settings.watch_event_ttl_days,
            pseudonym_key=secret(settings, "analytics_pseudonym_key"),
        ),
        "object_store": ObjectStoreResource(
            kind=settings.object_store,
            local_dir=str(settings.objects_dir) if settings.object_store == "local" else None,
            s3_bucket=settings.s3_bucket,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
            s3_access_key_id=settings.s3_access_key_id,
            s3_secret_access_key=secret(settings, "s3_secret_access_key"),
            cdn_base_url=settings.cdn_base_url,
            url_signing_secret=secret(settings, "url_signing_secret"),
            partial_dir=str(settings.uploads_partial_dir),
        ),
        "pyspark": PySparkResource(spark_config=connect.spark_config(settings)),
        "recommender": RecommenderResource(
            training_days=settings.reco_training_days,
            promotion_margin=settings.reco_promotion_margin,
            min_test_users=settings.reco_min_test_users,
            eval_precision=settings.reco_eval_precision,
            max_eval_users=settings.reco_max_eval_users,
        ),
        "media": MediaResource(
            work_dir=str(settings.media_work_dir),
            segment_s=settings.segment_s,
            max_duration_s=settings.max_source_duration_s,
            max_width=settings.max_source_width,
            max_height=settings.max_source_height,
            drm_scheme=settings.drm_scheme,
            drm_master_key=secret(settings, "drm_master_key"),
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
