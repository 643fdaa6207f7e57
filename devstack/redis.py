"""Redis of the dev stack: the API's shared cache, session checks and rate-limit counters.

Debian's `redis-server` runs in the foreground from a `redis.conf` written in its directory at
each start: loopback only, the password of the Redis URL in the settings (for the default user),
a memory cap past which the least recently used keys are evicted, and no persistence. Everything
it holds is either read again from PostgreSQL and Cassandra on a miss or a counter of a short
window, so a restart that starts empty costs a few slower requests and nothing else; without
snapshots Redis never forks, and the kernel's overcommit setting it warns about at start does
not matter.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from devstack.network import HOST, port_open
from devstack.service import Service, ServiceError
from reelflow.settings import Settings

DEFAULT_PORT = 6379
MAXMEMORY = "256mb"
CONNECT_TIMEOUT_S = 1.0


class RedisURL:
    """The parts of a Redis URL: scheme, host, port, user, password, database."""

    def __init__(self, url: str) -> None:
        parts: SplitResult = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or HOST
        self.port = parts.port or DEFAULT_PORT
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.db = int(parts.path.lstrip("/") or 0)

    def ping(self, password: str | None = None) -> bool:
        """PING with the URL's password, or `password` ("" sends none), once; raises what Redis
        answers (redis.AuthenticationError for a wrong password or none)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        chosen = self.password if password is None else password
        with redis.Redis(
            host=self.host,
            port=self.port,
            db=self.db,
            username=self.user or None,
            password=chosen or None,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=CONNECT_TIMEOUT_S,
            # redis-py tries a refused login again three times by default, backing off seconds.
            retry=Retry(NoBackoff(), retries=0),
        ) as client:
            return bool(client.ping())


class Redis(Service):
    """A Redis server on the port of `settings.redis_url`, its password required."""

    name = "redis"
    start_timeout_s = 10.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        url = "" if settings.redis_url is None else settings.redis_url.get_secret_value()
        if not url:
            raise ServiceError("redis: REELFLOW_REDIS_URL is unset, so the stack runs no Redis")
        self.url = RedisURL(url)

    @property
    def port(self) -> int:
        return self.url.port

    @property
    def endpoint(self) -> str:
        return f"redis://{HOST}:{self.port}"

    @property
    def conf_file(self) -> Path:
        return self.dir / "redis.conf"

    def prepare(self) -> None:
        redis_server()
        if self.url.scheme != "redis":
            raise ServiceError(
                f"redis: the dev stack's Redis speaks plain `redis://`, not `{self.url.scheme}://`"
            )
        if self.url.user not in ("", "default"):
            raise ServiceError(
                f"redis: the dev stack's Redis has only the default user; drop `{self.url.user}` "
                f"from REELFLOW_REDIS_URL (redis://:password@host:port/db)"
            )
        if not self.url.password:
            raise ServiceError("redis: REELFLOW_REDIS_URL names no password (redis://:password@…)")
        # It holds the password.
        self.conf_file.touch(mode=0o600)
        self.conf_file.chmod(0o600)
        self.conf_file.write_text(
            REDIS_CONF.format(
                host=HOST,
                port=self.port,
                password=conf_string(self.url.password),
                dir=conf_string(str(self.dir)),
                maxmemory=MAXMEMORY,
            )
        )

    def command(self) -> list[str]:
        return [redis_server(), str(self.conf_file)]

    def is_ready(self) -> bool:
        if not port_open(self.port):
            return False
        import redis

        try:
            return self.url.ping()
        except (OSError, redis.RedisError):
            return False


def redis_server() -> str:
    """The `redis-server` on the PATH."""
    found = shutil.which("redis-server")
    if found is None:
        raise ServiceError("redis-server is not installed (Debian package redis-server)")
    return found


def conf_string(value: str) -> str:
    """`value` as one double-quoted argument of a redis.conf line (spaces, quotes, # included)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


REDIS_CONF = """\
# Written by the dev stack (devstack/redis.py) at each start.
bind {host}
protected-mode yes
port {port}
requirepass {password}
dir {dir}
daemonize no
supervised no
logfile ""
loglevel notice
save ""
appendonly no
maxmemory {maxmemory}
maxmemory-policy allkeys-lru
"""
