"""The stores a deployment's settings name, opened on the dev stack: each one works."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
from cassandra.cluster import Session

from reelflow import connect
from reelflow.settings import Settings
from storage.keyspace import SchemaOutOfDate, schema_files
from storage.objects import LocalObjectStore, S3ObjectStore
from storage.objects.local import verify_local_signature


def test_the_catalog_is_the_settings_database(dev_stack: Settings, catalog_dsn: str) -> None:
    settings = dev_stack.model_copy(update={"postgres_dsn": catalog_dsn})
    with connect.catalog(settings) as catalog:
        user = catalog.create_user("connect@example.com", "argon2-hash")
    with connect.catalog(settings) as again:
        assert again.get_user(user.id).email == "connect@example.com"


def test_the_cassandra_session_answers(dev_stack: Settings) -> None:
    session: Session = connect.cassandra_session(dev_stack)
    try:
        row = session.execute("SELECT release_version FROM system.local").one()
        assert row.release_version.startswith("5.")
    finally:
        session.cluster.shutdown()


def test_history_needs_the_keyspace_migrated_and_then_uses_it(
    dev_stack: Settings, history_keyspace: str, cassandra_session: Session
) -> None:
    settings = dev_stack.model_copy(update={"cassandra_keyspace": history_keyspace})
    with pytest.raises(SchemaOutOfDate, match="has no schema.*Run `reelflow migrate`"):
        connect.history(settings)
    assert [path.stem for _, path in schema_files()] == connect.migrate_history(settings)
    assert connect.migrate_history(settings) == []
    user, video = uuid4(), uuid4()
    with connect.history(settings) as history:
        history.record_watch(user, video, 30.0, 60.0, watched_delta_s=30.0, session_id=uuid4())
    keyspaces = cassandra_session.execute("SELECT keyspace_name FROM system_schema.keyspaces")
    assert history_keyspace in {row.keyspace_name for row in keyspaces}
    with connect.history(settings) as again:
        assert [(e.video_id, e.position_s) for e in again.history(user)] == [(video, 30.0)]


def test_the_local_store_signs_with_the_settings_secret(
    dev_stack: Settings, tmp_path: Path
) -> None:
    settings = dev_stack.model_copy(
        update={"object_store": "local", "object_store_dir": tmp_path / "objects"}
    )
    store = connect.object_store(settings)
    assert isinstance(store, LocalObjectStore) and store.root == settings.objects_dir
    store.put_bytes("a/b.txt", b"local")
    assert store.get_bytes("a/b.txt") == b"local"

    url = store.presign("a/b.txt", 60)
    assert url.startswith(f"{settings.cdn_base_url.rstrip('/')}/a/b.txt?")
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    secret = settings.url_signing_secret.get_secret_value().encode()
    assert verify_local_signature(secret, "a/b.txt", query["expires"], "GET", query["signature"])


def test_the_s3_stores_reach_the_settings_server(dev_stack: Settings) -> None:
    bucket = f"reelflow-test-{secrets.token_hex(6)}"
    settings = dev_stack.model_copy(update={"object_store": "s3", "s3_bucket": bucket})
    store = connect.object_store(settings)
    assert isinstance(store, S3ObjectStore) and store.bucket == bucket
    store.ensure_bucket()
    try:
        store.put_bytes("a/b.txt", b"on s3")
        # The same server and bucket, reached by the opener the benchmarks and tests use.
        assert connect.s3_store(settings).get_bytes("a/b.txt") == b"on s3"
        assert connect.s3_store(dev_stack, bucket).list("a") == ["a/b.txt"]
    finally:
        store.delete("a/b.txt")
        store.client.delete_bucket(Bucket=bucket)


def test_spark_gets_each_cached_connector_jar_and_the_cassandra_hosts(
    dev_stack: Settings,
) -> None:
    config = connect.spark_config(dev_stack)
    jars = config["spark.jars"].split(",")
    cached = sorted(str(jar) for jar in (dev_stack.jar_dir / "spark-connector").glob("*.jar"))
    assert cached and jars == cached
    assert any("spark-cassandra-connector" in Path(jar).name for jar in jars)
    assert config["spark.master"] == dev_stack.spark_master
    assert config["spark.cassandra.connection.host"] == ",".join(dev_stack.cassandra_contact_points)
    assert config["spark.cassandra.connection.port"] == str(dev_stack.cassandra_port)
    assert config["spark.cassandra.connection.localDC"] == dev_stack.cassandra_local_dc
    assert config["spark.cassandra.input.consistency.level"] == "LOCAL_QUORUM"
    assert config["spark.cassandra.output.consistency.level"] == "LOCAL_QUORUM"
    # The dev stack is one machine: its driver stays on loopback; a production one does not.
    assert config["spark.driver.bindAddress"] == "127.0.0.1"
    prod = connect.spark_config(dev_stack.model_copy(update={"deployment": "prod"}))
    assert "spark.driver.bindAddress" not in prod
