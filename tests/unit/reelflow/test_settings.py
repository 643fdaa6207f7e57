"""Settings: environment prefix, deployments, and refusal of placeholder secrets in prod."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reelflow.settings import Settings

REAL_SECRETS = {
    "REELFLOW_JWT_SECRET": "9b1f0c6a3e7d4b2f8a5c1e0d7b3a9f6c",
    "REELFLOW_URL_SIGNING_SECRET": "4e8a2c6f1b9d3e7a5c0f8b2d6a4e1c9f",
    "REELFLOW_DRM_MASTER_KEY": "c3f7a1e9b5d2f8c4a6e0b7d3f1a9c5e2",
    "REELFLOW_STRIPE_API_KEY": "sk_live_5f2b8d1c9e4a7f3b6d0c",
    "REELFLOW_STRIPE_WEBHOOK_SECRET": "whsec_8c1f4b7e2d9a6c3f0b5e",
    "REELFLOW_ANALYTICS_PSEUDONYM_KEY": "7a3e9c1f5b8d2a6e4c0f9b3d1e5a8c2f",
    "REELFLOW_REDIS_URL": "redis://:3c9e1a7f5b2d8c4e@cache.internal:6379/0",
    "REELFLOW_POSTGRES_DSN": "postgresql://reelflow:5d1b9e3f7a2c8e4b@db.internal:5432/reelflow",
    # Unset: the Stripe library's own https://api.stripe.com.
    "REELFLOW_STRIPE_API_BASE": "",
    "REELFLOW_SMTP_HOST": "smtp.sendgrid.net",
    "REELFLOW_SMTP_PORT": "587",
    "REELFLOW_SMTP_SECURITY": "starttls",
}


def test_local_defaults_point_at_the_dev_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REELFLOW_DEPLOYMENT", "REELFLOW_POSTGRES_DSN", "REELFLOW_CASSANDRA_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.deployment == "local"
    assert settings.postgres_dsn.endswith("@127.0.0.1:15432/reelflow")
    assert settings.cassandra_port == 19042
    assert settings.objects_dir == settings.state_dir / "objects"


def test_environment_prefix_and_contact_point_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_CASSANDRA_CONTACT_POINTS", "10.0.0.1, 10.0.0.2")
    monkeypatch.setenv("REELFLOW_OBJECT_STORE", "s3")
    monkeypatch.setenv("REELFLOW_CASSANDRA_EVENT_BUCKETS", "16")
    settings = Settings()
    assert settings.cassandra_contact_points == ["10.0.0.1", "10.0.0.2"]
    assert settings.object_store == "s3"
    assert settings.cassandra_event_buckets == 16


def test_cassandra_topology_and_consistency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_CASSANDRA_LOCAL_DC", "eu-west")
    monkeypatch.setenv(
        "REELFLOW_CASSANDRA_REPLICATION", "{'class': 'NetworkTopologyStrategy', 'eu-west': 3}"
    )
    monkeypatch.setenv("REELFLOW_CASSANDRA_WRITE_CONSISTENCY", "EACH_QUORUM")
    settings = Settings()
    assert settings.cassandra_read_consistency == "LOCAL_QUORUM"
    assert settings.cassandra_write_consistency == "EACH_QUORUM"
    monkeypatch.setenv("REELFLOW_CASSANDRA_READ_CONSISTENCY", "SOME")
    with pytest.raises(ValidationError, match="cassandra_read_consistency"):
        Settings()
    monkeypatch.delenv("REELFLOW_CASSANDRA_READ_CONSISTENCY")
    # Replicas placed only in another data centre: every local request would fail.
    monkeypatch.setenv("REELFLOW_CASSANDRA_LOCAL_DC", "us-east")
    with pytest.raises(ValidationError, match="places no replica in .* 'us-east'"):
        Settings()


def test_settings_move_to_the_cassandra_of_another_cluster() -> None:
    ring = Settings(cassandra_nodes=3, cassandra_port=19242, cassandra_keyspace="ring")
    api = Settings(cassandra_keyspace="api", redis_namespace="api-test")
    moved = api.with_cassandra_of(ring)
    assert (moved.cassandra_nodes, moved.cassandra_port, moved.cassandra_keyspace) == (
        3,
        19242,
        "ring",
    )
    assert moved.cassandra_contact_points == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert moved.cassandra_replication == ring.cassandra_replication
    # Everything else stays as it was.
    assert moved.redis_namespace == "api-test"
    assert moved.postgres_dsn == api.postgres_dsn


def test_prod_refuses_local_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    assert "refuses to start" in message
    # The dev stack's mail sink is plain SMTP: prod wants the relay's TLS.
    for name in {*REAL_SECRETS} - {"REELFLOW_SMTP_HOST", "REELFLOW_SMTP_PORT"}:
        assert name in message


@pytest.mark.parametrize("placeholder", ["change-me", "", "  secret "])
def test_prod_refuses_each_placeholder(monkeypatch: pytest.MonkeyPatch, placeholder: str) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REELFLOW_JWT_SECRET", placeholder)
    with pytest.raises(ValidationError, match="REELFLOW_JWT_SECRET"):
        Settings()


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        # The dev stack's database password, in the catalog, the standby or Dagster's instance.
        (
            "REELFLOW_POSTGRES_DSN",
            "postgresql://reelflow:reelflow@db.internal:5432/reelflow",
            "REELFLOW_POSTGRES_DSN (its password)",
        ),
        (
            "REELFLOW_POSTGRES_REPLICA_DSN",
            "postgresql://reelflow:reelflow@standby.internal:5432/reelflow",
            "REELFLOW_POSTGRES_REPLICA_DSN (its password)",
        ),
        (
            "REELFLOW_DAGSTER_POSTGRES_URL",
            "postgresql+psycopg2://dagster:reelflow@db.internal:5432/dagster",
            "REELFLOW_DAGSTER_POSTGRES_URL (its password)",
        ),
        # stripe-mock, or anything else that is not Stripe over TLS, would get the live key.
        ("REELFLOW_STRIPE_API_BASE", "http://127.0.0.1:12111", "REELFLOW_STRIPE_API_BASE"),
        ("REELFLOW_STRIPE_API_BASE", "https://localhost:12112", "REELFLOW_STRIPE_API_BASE"),
        # Mail that would cross the network in the clear, or could not be sent at all.
        ("REELFLOW_SMTP_SECURITY", "none", "REELFLOW_SMTP_SECURITY"),
        ("REELFLOW_SMTP_HOST", "", "REELFLOW_SMTP_HOST"),
        ("REELFLOW_STRIPE_API_BASE", "http://stripe.internal", "REELFLOW_STRIPE_API_BASE"),
    ],
)
def test_prod_refuses_the_dev_stacks_credentials_and_endpoints(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    for real, secret in REAL_SECRETS.items():
        monkeypatch.setenv(real, secret)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert named in str(refused.value)


def test_prod_refuses_the_dev_stacks_s3_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REELFLOW_OBJECT_STORE", "s3")
    monkeypatch.delenv("REELFLOW_S3_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(ValidationError, match="REELFLOW_S3_SECRET_ACCESS_KEY"):
        Settings()
    monkeypatch.setenv("REELFLOW_S3_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY")
    monkeypatch.setenv("REELFLOW_STRIPE_API_BASE", "https://stripe-proxy.internal")
    settings = Settings()
    assert settings.stripe_api_base == "https://stripe-proxy.internal"


def test_prod_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.deployment == "prod"
    assert settings.jwt_secret.get_secret_value() == REAL_SECRETS["REELFLOW_JWT_SECRET"]
    assert "9b1f" not in repr(settings), "secrets must not show in reprs or logs"


def test_prod_refuses_short_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REELFLOW_URL_SIGNING_SECRET", "a7f3c91e5b2d8f4a")
    with pytest.raises(ValidationError, match="REELFLOW_URL_SIGNING_SECRET .shorter than 32"):
        Settings()


def test_prod_with_the_worker_pool_needs_a_broker_password_and_the_instance_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REELFLOW_DEPLOYMENT", "prod")
    for name, value in REAL_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REELFLOW_MEDIA_EXECUTOR", "celery")
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    assert "REELFLOW_BROKER_URL (its password)" in message
    assert "REELFLOW_DAGSTER_POSTGRES_URL" in message
    assert REAL_SECRETS["REELFLOW_JWT_SECRET"] not in message, "errors never echo values"

    monkeypatch.setenv("REELFLOW_BROKER_URL", "amqp://media:7d2f9a4c1e8b@mq.internal:5672/media")
    monkeypatch.setenv(
        "REELFLOW_DAGSTER_POSTGRES_URL", "postgresql+psycopg2://dagster:5e1c8a@db.internal/dagster"
    )
    assert Settings().media_executor == "celery"


def test_the_dagster_instance_url_names_the_driver_and_errors_hide_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REELFLOW_DAGSTER_POSTGRES_URL", "postgresql://dagster:5e1c8a@db/dagster")
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "must start with postgresql+psycopg2://" in str(refused.value)
    assert "5e1c8a" not in str(refused.value)
