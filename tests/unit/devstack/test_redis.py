"""The dev stack's Redis: what it reads from the Redis URL, the config it writes, the URLs and
machines it refuses."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from devstack.redis import MAXMEMORY, Redis, RedisURL, redis_server
from devstack.service import ServiceError
from reelflow.settings import Settings


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        ("redis://:pw@127.0.0.1:16379/0", ("", "pw", 16379, 0)),
        ("redis://:pw@cache.internal", ("", "pw", 6379, 0)),
        ("redis://default:p%40s%3Aw%20x@cache:6380/3", ("default", "p@s:w x", 6380, 3)),
    ],
)
def test_the_redis_url_names_user_password_port_and_database(
    url: str, parts: tuple[str, str, int, int]
) -> None:
    parsed = RedisURL(url)
    assert (parsed.user, parsed.password, parsed.port, parsed.db) == parts


def test_the_config_binds_loopback_requires_the_password_and_is_private(tmp_path: Path) -> None:
    url = SecretStr("redis://:a%20%22b%22@127.0.0.1:16479")
    server = Redis(Settings(state_dir=tmp_path, redis_url=url))
    server.dir.mkdir(parents=True)
    server.prepare()
    lines = server.conf_file.read_text().splitlines()
    assert {
        "bind 127.0.0.1",
        "protected-mode yes",
        "port 16479",
        'requirepass "a \\"b\\""',
        f'dir "{server.dir}"',
        'logfile ""',
        'save ""',
        "appendonly no",
        f"maxmemory {MAXMEMORY}",
        "maxmemory-policy allkeys-lru",
    } <= set(lines)
    assert stat.S_IMODE(server.conf_file.stat().st_mode) == 0o600
    assert server.command() == [redis_server(), str(server.conf_file)]


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("rediss://:pw@127.0.0.1:16479/0", "plain `redis://`"),
        ("redis://cache:pw@127.0.0.1:16479/0", "only the default user"),
        ("redis://127.0.0.1:16479/0", "names no password"),
    ],
)
def test_urls_the_local_server_cannot_serve_are_refused(
    url: str, complaint: str, tmp_path: Path
) -> None:
    server = Redis(Settings(state_dir=tmp_path, redis_url=SecretStr(url)))
    server.dir.mkdir(parents=True)
    with pytest.raises(ServiceError, match=complaint):
        server.prepare()
    assert not server.conf_file.exists()


def test_no_url_no_redis() -> None:
    with pytest.raises(ServiceError, match="REELFLOW_REDIS_URL is unset"):
        Redis(Settings(redis_url=None))


def test_a_machine_without_redis_server_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceError, match="Debian package redis-server"):
        redis_server()
