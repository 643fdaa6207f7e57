"""The stores a deployment's settings name, opened: one translation from `Settings` to storage
objects for the API's app factory, the command, the benchmarks and the tests. (The Dagster
resources build theirs from their own configuration, which the resource map fills in.)"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from reelflow.settings import Settings
from storage import spark
from storage.catalog import Catalog
from storage.history import History, open_session
from storage.keyspace import apply_schema
from storage.objects import ObjectStore, S3ObjectStore, StoreConfig, s3_client


def catalog(settings: Settings) -> Catalog:
    """The catalog on the deployment's database, its pool sized by the settings."""
    return Catalog(settings.postgres_dsn, max_size=settings.postgres_pool_max)


def replica_catalog(settings: Settings) -> Catalog | None:
    """The catalog on the deployment's PostgreSQL standby, if it has one. A connection it
    cannot get within a second is a failed read (the caller falls back to the primary)."""
    if not settings.postgres_replica_dsn:
        return None
    return Catalog(
        settings.postgres_replica_dsn, max_size=settings.postgres_pool_max, timeout_s=1.0
    )


def cassandra_session(settings: Settings) -> Session:
    """A driver session on the deployment's cluster; close it with `session.cluster.shutdown()`."""
    return open_session(
        settings.cassandra_contact_points, settings.cassandra_port, settings.cassandra_local_dc
    )


def history(settings: Settings) -> History:
    """Viewing history on the deployment's keyspace (`SchemaOutOfDate` when `migrate_history`
    has not brought it to this release's schema)."""
    return History.connect(
        settings.cassandra_contact_points,
        settings.cassandra_port,
        settings.cassandra_keyspace,
        local_dc=settings.cassandra_local_dc,
        buckets=settings.cassandra_event_buckets,
        event_ttl_days=settings.watch_event_ttl_days,
        read_consistency=settings.cassandra_read_consistency,
        write_consistency=settings.cassandra_write_consistency,
    )


def migrate_history(settings: Settings) -> list[str]:
    """Create the deployment's keyspace or bring it to this release's schema and replication;
    the schema files applied."""
    session = cassandra_session(settings)
    try:
        return apply_schema(
            session,
            settings.cassandra_keyspace,
            settings.cassandra_replication,
            event_ttl_days=settings.watch_event_ttl_days,
        )
    finally:
        session.cluster.shutdown()


def store_config(settings: Settings) -> StoreConfig:
    """Where the deployment keeps its objects."""
    return StoreConfig(
        kind=settings.object_store,
        local_dir=settings.objects_dir if settings.object_store == "local" else None,
        base_url=settings.cdn_base_url,
        signing_secret=settings.url_signing_secret.get_secret_value(),
        bucket=settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key.get_secret_value(),
    )


def object_store(settings: Settings) -> ObjectStore:
    """The deployment's object store: a local directory or an S3 bucket."""
    return store_config(settings).open()


def s3_store(settings: Settings, bucket: str | None = None) -> S3ObjectStore:
    """The deployment's S3 server, on its bucket or on `bucket`."""
    client = s3_client(
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key.get_secret_value(),
    )
    return S3ObjectStore(bucket or settings.s3_bucket, client)


def spark_config(settings: Settings) -> dict[str, Any]:
    """Spark session settings for the deployment's master and Cassandra."""
    return spark.spark_config(
        settings.spark_master,
        list((settings.jar_dir / "spark-connector").glob("*.jar")),
        settings.cassandra_contact_points,
        settings.cassandra_port,
        local_dc=settings.cassandra_local_dc,
        read_consistency=settings.cassandra_read_consistency,
        write_consistency=settings.cassandra_write_consistency,
        loopback=settings.deployment == "local",
    )
