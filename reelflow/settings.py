"""One settings object that names every endpoint and secret of a Reelflow deployment."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Values that mark a secret as "not chosen yet"; `prod` refuses to start with any of them.
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "placeholder", "dev", "sk_test_123"}
)
LOCAL_SECRET_PREFIX = "local-only-"
# The dev stack's own credentials (its database password, its S3 secret): public, so never
# accepted in prod.
DEV_STACK_SECRETS = frozenset({"reelflow", "reelflow-local-secret"})
CassandraConsistency = Literal[
    "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"
]
# Our own signing and wrapping keys: HMAC-SHA256 wants at least its output size (RFC 7518 3.2).
MIN_SECRET_LENGTH = 32
OWN_SECRET_FIELDS = (
    "jwt_secret",
    "url_signing_secret",
    "drm_master_key",
    "analytics_pseudonym_key",
)
SECRET_FIELDS = (
    "jwt_secret",
    "url_signing_secret",
    "drm_master_key",
    "stripe_api_key",
    "stripe_webhook_secret",
    "analytics_pseudonym_key",
)


DAGSTER_POSTGRES_SCHEME = "postgresql+psycopg2://"


class SettingsError(ValueError):
    """A deployment's settings cannot be used as they are."""


class Settings(BaseSettings):
    """Reelflow configuration, read from `REELFLOW_*` environment variables."""

    # Errors name the setting, never echo its value: many values are secrets.
    model_config = SettingsConfigDict(
        env_prefix="REELFLOW_", extra="ignore", hide_input_in_errors=True
    )

    deployment: Literal["local", "prod"] = "local"
    state_dir: Path = PROJECT_ROOT / ".state"
    cache_dir: Path = Path.home() / ".cache" / "reelflow"

    postgres_dsn: str = "postgresql://reelflow:reelflow@127.0.0.1:15432/reelflow"
    postgres_pool_max: int = 10
    # A hot standby for reads that tolerate a little lag (the dev stack starts one when set;
    # the API reads from it, see api/replica.py), and how long the API leaves it alone after a
    # failed read before trying it again.
    postgres_replica_dsn: str | None = None
    postgres_replica_retry_s: float = Field(default=5.0, ge=0)

    # The dev stack's Cassandra nodes: 3 makes a ring on 127.0.0.1-3 whose contact points and
    # replication (RF 3) become the defaults of the two settings after it.
    cassandra_nodes: int = Field(default=1, ge=1, le=3)
    cassandra_contact_points: Annotated[list[str], NoDecode] = ["127.0.0.1"]
    cassandra_port: int = 19042
    cassandra_keyspace: str = "reelflow"
    # The data centre the driver sends requests to (SimpleSnitch, the dev stack's, names its
    # only one datacenter1); the keyspace's replication, applied by `reelflow migrate` (RF 3
    # per data centre in production); and the consistency of every read and of every write.
    cassandra_local_dc: str = "datacenter1"
    cassandra_replication: str = "{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}"
    cassandra_read_consistency: CassandraConsistency = "LOCAL_QUORUM"
    cassandra_write_consistency: CassandraConsistency = "LOCAL_QUORUM"
    cassandra_event_buckets: int = Field(default=8, ge=1, le=256)
    watch_event_ttl_days: int = Field(default=400, ge=1)

    object_store: Literal["local", "s3"] = "local"
    object_store_dir: Path | None = None
    s3_bucket: str = "reelflow"
    s3_endpoint_url: str | None = "http://127.0.0.1:19000"
    s3_region: str = "us-east-1"
    s3_access_key_id: str = "reelflow"
    s3_secret_access_key: SecretStr = SecretStr("reelflow-local-secret")

    cdn_base_url: str = "http://127.0.0.1:8000/cdn"
    api_base_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    cors_origins: Annotated[list[str], NoDecode] = []
    # JSON bodies; uploads are chunked and limited by max_upload_bytes instead.
    max_request_bytes: int = 1024 * 1024
    max_upload_bytes: int = 20 * 1024**3
    upload_chunk_max_bytes: int = 64 * 1024**2
    # What one account may have on its way at once: open uploads, and the bytes they declare.
    max_open_uploads: int = Field(default=5, ge=1)
    max_upload_bytes_in_flight: int = Field(default=40 * 1024**3, ge=1)
    signed_url_ttl_s: int = 6 * 3600
    login_max_failures: int = 5
    login_window_s: int = 900
    # API processes of `reelflow api`; unset: one per core in prod, one locally.
    api_workers: int | None = Field(default=None, ge=1)

    # Redis, shared by every API worker: the cache of what many viewers read alike, the
    # session check and the rate limits (docs/api.md). Its password is in the URL. Unset or
    # down, the API reads PostgreSQL and Cassandra for everything.
    redis_url: SecretStr | None = SecretStr(
        f"redis://:{LOCAL_SECRET_PREFIX}redis-password@127.0.0.1:16379/0"
    )
    # Keys are prefixed with the namespace, so deployments (or tests) can share one Redis.
    redis_namespace: str = Field(default="reelflow", min_length=1)
    # Each call waits this long at most; after a failure a worker leaves Redis alone this long.
    redis_timeout_s: float = Field(default=0.25, gt=0)
    redis_cooldown_s: float = Field(default=5.0, gt=0)
    redis_pool_max: int = Field(default=64, ge=1)
    # Cassandra and Stripe: after this many failures in a row, the API answers 503 at once
    # (with `Retry-After`) for the cool-down instead of waiting for each call to time out.
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown_s: float = Field(default=10.0, gt=0)
    # How long a cached session check, public video or trending page is served before it is
    # read again (sign-out, a password change and edits drop their entries at once).
    session_cache_ttl_s: float = Field(default=30.0, gt=0)
    cache_ttl_s: float = Field(default=30.0, gt=0)
    # Rate limits by route and scope, overriding those of api/limits.py:
    # {"login:address": "30/60"} is 30 requests per 60 s from one client address.
    rate_limits: dict[str, str] = {}

    # Transactional mail (address confirmation, password reset, a creator's video ready or
    # failed) goes through this SMTP server: SendGrid, SES or any relay. `starttls` upgrades a
    # plain connection (port 587), `tls` opens one (465), `none` is for the dev stack's mail
    # sink on loopback only. Unset host: mail waits in the outbox, unsent.
    smtp_host: str | None = "127.0.0.1"
    smtp_port: int = Field(default=11025, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    mail_from: str = "Reelflow <no-reply@reelflow.localhost>"
    # How often each API process looks for mail to send (it looks at once after a request
    # queues some), and how long a confirmation or reset link works.
    mail_poll_s: float = Field(default=5.0, gt=0)
    registration_ttl_s: int = Field(default=24 * 3600, ge=60)
    password_reset_ttl_s: int = Field(default=3600, ge=60)

    stripe_api_key: SecretStr = SecretStr("sk_test_123")
    stripe_api_base: str | None = "http://127.0.0.1:12111"
    stripe_webhook_secret: SecretStr = SecretStr(LOCAL_SECRET_PREFIX + "stripe-webhook")

    spark_master: str = "local[*]"

    # Media steps run in the run's own process (`in_process`), or each on the `reelflow worker`
    # pool fed by RabbitMQ (`celery`), whose workers read runs from the Dagster instance in
    # PostgreSQL (deploy/dagster.yaml). Both URLs carry a password.
    media_executor: Literal["in_process", "celery"] = "in_process"
    broker_url: SecretStr = SecretStr(
        f"amqp://reelflow:{LOCAL_SECRET_PREFIX}broker-password@127.0.0.1:15673//"
    )
    dagster_postgres_url: SecretStr | None = None
    # The Dagster webserver the API asks for a media run the moment an upload completes; without
    # one (or when it does not answer) the upload sensor starts the run on its next tick.
    dagster_url: str | None = None

    # Recommendations: days of interactions a model learns from, how much better than the
    # popularity baseline (NDCG@10, predicting the last days) a model must be to be promoted,
    # held-out viewers that decision needs, how many it scores (enough for the lift's 95 %
    # interval to clear the margin or to be narrower than reco_eval_precision either side, at
    # most reco_max_eval_users), and how often the API looks for a new model.
    reco_training_days: int = Field(default=90, ge=1)
    reco_promotion_margin: float = Field(default=0.005, ge=0, le=1)
    reco_min_test_users: int = Field(default=10, ge=1)
    reco_eval_precision: float = Field(default=0.01, gt=0, le=1)
    reco_max_eval_users: int = Field(default=5000, ge=1)
    reco_reload_s: float = Field(default=15.0, gt=0)

    # Media pipeline: working files of a run (a volume shared by the steps in production).
    work_dir: Path | None = None
    segment_s: float = Field(default=2.0, gt=0.5, le=10)
    max_source_duration_s: float = Field(default=4 * 3600, gt=0)
    max_source_width: int = Field(default=7680, gt=0)
    max_source_height: int = Field(default=4320, gt=0)
    drm_scheme: Literal["cbcs", "cenc"] = "cbcs"
    quality_ssim_floor: float = Field(default=0.90, ge=0, le=1)
    x264_preset: str = "veryfast"
    # A video `processing` with no change for this long and no live run is queued again once,
    # then failed. Live runs are never touched, so this only has to outlast the launch of a
    # failed run's retry.
    stalled_after_s: float = Field(default=2 * 3600, gt=0)

    # Operations alerts (pipelines/alerts.py): failed runs and videos waiting in `processing`
    # longer than processing_alert_after_s are mailed to ops_email (unset: only logged), and
    # failed runs posted to the Slack incoming webhook when one is set (its URL is its secret).
    ops_email: str | None = None
    slack_webhook_url: SecretStr | None = None
    processing_alert_after_s: float = Field(default=3600, gt=0)

    jwt_secret: SecretStr = SecretStr(LOCAL_SECRET_PREFIX + "jwt-signing-key-of-the-dev-stack")
    url_signing_secret: SecretStr = SecretStr(
        LOCAL_SECRET_PREFIX + "url-signing-key-of-the-dev-stack"
    )
    # Wraps every per-video DRM content key in the catalog (a key is derived from it).
    drm_master_key: SecretStr = SecretStr(LOCAL_SECRET_PREFIX + "drm-master-key-of-the-dev-stack")
    # Keys the pseudonyms of viewers in analyst datasets; rotating it changes every pseudonym.
    analytics_pseudonym_key: SecretStr = SecretStr(
        LOCAL_SECRET_PREFIX + "analytics-pseudonym-key-of-the-dev-stack"
    )

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for name in ("cassandra_contact_points", "cors_origins"):
                value = data.get(name)
                if isinstance(value, str):
                    data[name] = [p.strip() for p in value.split(",") if p.strip()]
            # `REELFLOW_REDIS_URL=` turns an optional service off, as leaving it out does not.
            for name, field in cls.model_fields.items():
                if data.get(name) == "" and not field.is_required() and _optional(field):
                    data[name] = None
        return data

    def with_cassandra_of(self, cluster: Settings) -> Settings:
        """These settings on the Cassandra cluster of `cluster`: its nodes, contact points, port,
        replication and keyspace."""
        names = (
            "cassandra_nodes",
            "cassandra_contact_points",
            "cassandra_port",
            "cassandra_replication",
            "cassandra_keyspace",
        )
        return self.model_copy(update={name: getattr(cluster, name) for name in names})

    def as_environment(self) -> dict[str, str]:
        """The `REELFLOW_*` variables that give another process these settings."""
        env = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is None and field.default is None:
                continue
            if value is None:
                text = ""
            elif isinstance(value, list):
                text = ",".join(map(str, value))
            elif isinstance(value, dict):
                text = json.dumps(value)
            else:
                text = str(value)
            env[f"REELFLOW_{name.upper()}"] = text
        return env

    @field_validator("dagster_postgres_url")
    @classmethod
    def _psycopg2_driver(cls, value: SecretStr | None) -> SecretStr | None:
        # SQLAlchemy's default driver for `postgresql://` is psycopg 3, on which dagster-postgres
        # fails (it binds a parameter of NOTIFY).
        if value is not None and not value.get_secret_value().startswith(DAGSTER_POSTGRES_SCHEME):
            raise ValueError(f"must start with {DAGSTER_POSTGRES_SCHEME}")
        return value

    @model_validator(mode="after")
    def _ring_defaults(self) -> Settings:
        if self.cassandra_nodes > 1:
            if "cassandra_contact_points" not in self.model_fields_set:
                self.cassandra_contact_points = [
                    f"127.0.0.{node}" for node in range(1, self.cassandra_nodes + 1)
                ]
            if "cassandra_replication" not in self.model_fields_set:
                self.cassandra_replication = (
                    "{'class': 'NetworkTopologyStrategy', "
                    f"'{self.cassandra_local_dc}': {self.cassandra_nodes}}}"
                )
        return self

    @model_validator(mode="after")
    def _replicas_in_the_local_dc(self) -> Settings:
        strategy = self.cassandra_replication
        if "NetworkTopologyStrategy" in strategy and f"'{self.cassandra_local_dc}'" not in strategy:
            raise ValueError(
                f"REELFLOW_CASSANDRA_REPLICATION {strategy} places no replica in "
                f"REELFLOW_CASSANDRA_LOCAL_DC {self.cassandra_local_dc!r}"
            )
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.deployment != "prod":
            return self
        bad = [
            f"REELFLOW_{name.upper()}"
            for name in SECRET_FIELDS
            if _is_placeholder(getattr(self, name).get_secret_value())
        ]
        if (
            _is_placeholder(self.s3_secret_access_key.get_secret_value())
            and self.object_store == "s3"
        ):
            bad.append("REELFLOW_S3_SECRET_ACCESS_KEY")
        bad += [
            f"REELFLOW_{name.upper()} (its password)"
            for name in ("postgres_dsn", "postgres_replica_dsn", "dagster_postgres_url")
            # Without a password in it (certificates, .pgpass), there is nothing to judge.
            if (dsn := _secret_text(getattr(self, name))) is not None
            and (password := urlsplit(dsn).password) is not None
            and _is_placeholder(password)
        ]
        if self.stripe_api_base is not None and not _is_remote_https(self.stripe_api_base):
            # A live key would go to whatever listens there (stripe-mock answers "active").
            bad.append("REELFLOW_STRIPE_API_BASE (unset it for Stripe, or an https:// server)")
        if not self.smtp_host:
            bad.append("REELFLOW_SMTP_HOST (no mail could be sent)")
        elif self.smtp_security == "none":
            # Credentials and reset links would cross the network in the clear.
            bad.append("REELFLOW_SMTP_SECURITY (starttls or tls)")
        if self.media_executor == "celery":
            bad += _distributed_secrets_missing(self)
        if self.redis_url is not None and _is_placeholder(
            urlsplit(self.redis_url.get_secret_value()).password or ""
        ):
            bad.append("REELFLOW_REDIS_URL (its password)")
        bad += [
            f"REELFLOW_{name.upper()} (shorter than {MIN_SECRET_LENGTH} characters)"
            for name in OWN_SECRET_FIELDS
            if f"REELFLOW_{name.upper()}" not in bad
            and len(getattr(self, name).get_secret_value()) < MIN_SECRET_LENGTH
        ]
        if bad:
            raise SettingsError(
                "deployment 'prod' refuses to start: set real values for "
                + ", ".join(bad)
                + " (missing, placeholder or local-only secrets are not allowed)"
            )
        return self

    @property
    def objects_dir(self) -> Path:
        """Root directory of the local object store."""
        return self.object_store_dir or self.state_dir / "objects"

    @property
    def uploads_partial_dir(self) -> Path:
        """Where the API gathers the chunks of local uploads until the last one arrives."""
        return self.state_dir / "uploads-partial"

    @property
    def media_work_dir(self) -> Path:
        """Working files of media runs."""
        return self.work_dir or self.state_dir / "work"

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster"

    @property
    def jar_dir(self) -> Path:
        return self.cache_dir / "jars"


def _optional(field: FieldInfo) -> bool:
    return type(None) in get_args(field.annotation)


def _is_placeholder(value: str) -> bool:
    lowered = value.strip().lower()
    return (
        lowered in PLACEHOLDER_SECRETS
        or lowered in DEV_STACK_SECRETS
        or lowered.startswith(LOCAL_SECRET_PREFIX)
    )


def _secret_text(value: str | SecretStr | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _is_remote_https(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    loopback = host == "localhost" or host.startswith("127.") or host in ("::1", "0.0.0.0")
    return parts.scheme == "https" and bool(host) and not loopback


def _distributed_secrets_missing(settings: Settings) -> list[str]:
    # Workers on other hosts meet the run host only through the broker and the instance.
    missing = []
    if _is_placeholder(urlsplit(settings.broker_url.get_secret_value()).password or ""):
        missing.append("REELFLOW_BROKER_URL (its password)")
    if settings.dagster_postgres_url is None:
        missing.append("REELFLOW_DAGSTER_POSTGRES_URL")
    return missing


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
