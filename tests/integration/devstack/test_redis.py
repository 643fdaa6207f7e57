"""The dev stack's Redis: its password only, loopback only, a capped cache that keeps nothing."""

from __future__ import annotations

import shutil
import socket
import stat
from collections.abc import Iterator
from urllib.parse import quote

import psutil
import pytest
import redis
from pydantic import SecretStr

from devstack.network import HOST, port_open
from devstack.processes import group_members
from devstack.redis import Redis
from reelflow.settings import Settings

# Beside the shared stack's Redis and the devstack test's (+100), so all can run at once.
PORT = Redis(Settings()).port + 200
# Spaces, quotes, a backslash and a `#`: redis.conf must still read it as one password.
PASSWORD = 'redis test "pw" \\ #1'


@pytest.fixture
def shared_redis(dev_stack: Settings) -> Redis:
    return Redis(dev_stack)


@pytest.fixture
def own_redis(settings: Settings) -> Iterator[Redis]:
    state = settings.state_dir / "redis-test"
    shutil.rmtree(state, ignore_errors=True)
    url = SecretStr(f"redis://:{quote(PASSWORD, safe='')}@{HOST}:{PORT}/0")
    server = Redis(Settings(state_dir=state, redis_url=url))
    yield server
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


def client(server: Redis) -> redis.Redis:
    return redis.Redis(host=HOST, port=server.port, password=server.url.password)


def listening(pid: int) -> set[tuple[str, int]]:
    """The addresses the process listens on."""
    return {
        (conn.laddr.ip, conn.laddr.port)
        for conn in psutil.Process(pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }


def test_answers_its_password_only(shared_redis: Redis) -> None:
    assert shared_redis.url.ping()
    for wrong in ("not-the-password", ""):
        with pytest.raises(redis.AuthenticationError):
            shared_redis.url.ping(wrong)
    # Whatever the client library does first, a bare command gets no answer but NOAUTH.
    with socket.create_connection((HOST, shared_redis.port), timeout=2) as bare:
        bare.sendall(b"PING\r\n")
        assert bare.recv(100).startswith(b"-NOAUTH")


def test_listens_on_loopback_only_and_keeps_its_config_private(shared_redis: Redis) -> None:
    pid = shared_redis.pid()
    assert pid is not None
    assert listening(pid) == {(HOST, shared_redis.port)}
    assert stat.S_IMODE(shared_redis.conf_file.stat().st_mode) == 0o600


def test_is_a_capped_cache_that_evicts_and_saves_nothing(shared_redis: Redis) -> None:
    with client(shared_redis) as conn:
        assert conn.config_get("maxmemory") == {"maxmemory": str(256 * 1024 * 1024)}
        assert conn.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert conn.config_get("save") == {"save": ""}
        assert conn.config_get("appendonly") == {"appendonly": "no"}
        assert conn.config_get("dir") == {"dir": str(shared_redis.dir)}


def test_up_twice_reuses_it_and_down_stops_only_it(own_redis: Redis, shared_redis: Redis) -> None:
    assert own_redis.launch()
    own_redis.wait_ready()
    pid = own_redis.pid()
    assert pid is not None
    assert not own_redis.launch(), "a second start must reuse the running server"
    own_redis.wait_ready()
    assert own_redis.pid() == pid and own_redis.status().state == "ready"
    assert own_redis.url.ping()
    with client(own_redis) as conn:
        conn.set("greeting", "hello")

    assert own_redis.stop()
    assert group_members(pid) == []
    assert not port_open(PORT)
    assert own_redis.status().state == "stopped"
    assert not own_redis.stop()
    assert shared_redis.status().state == "ready"


def test_a_restarted_server_starts_empty_and_wrote_nothing(own_redis: Redis) -> None:
    own_redis.launch()
    own_redis.wait_ready()
    with client(own_redis) as conn:
        conn.set("greeting", "hello")
    own_redis.stop()

    assert own_redis.launch()
    own_redis.wait_ready()
    with client(own_redis) as conn:
        assert conn.get("greeting") is None
    written = {path.name for path in own_redis.dir.iterdir()}
    assert written == {"pid", "redis.conf", "redis.log"}
