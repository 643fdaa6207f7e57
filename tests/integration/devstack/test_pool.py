"""A worker pool on this machine: each process on a host of its own, all of them stopped by pid."""

from __future__ import annotations

from pathlib import Path

import psutil

from devstack.pool import (
    broker_vhost,
    bucket,
    database,
    database_dsn,
    pool_environment,
    worker_pool,
)
from devstack.processes import group_members
from devstack.rabbitmq import RabbitMQ
from reelflow.settings import Settings


def test_each_process_has_a_host_of_its_own_and_none_outlives_the_pool(
    dev_stack: Settings, catalog_dsn: str, tmp_path: Path
) -> None:
    admin = dev_stack.postgres_dsn
    with (
        broker_vhost(RabbitMQ(dev_stack)) as broker_url,
        database(admin) as instance_db,
        bucket(dev_stack) as store,
    ):
        environment = pool_environment(
            dev_stack,
            broker_url=broker_url,
            instance_dsn=database_dsn(admin, instance_db),
            catalog_dsn=catalog_dsn,
            store=store,
        )
        with worker_pool(tmp_path, environment, 2) as pool:
            assert pool.daemon is not None
            servers = [pool.daemon, *(worker.server for worker in pool.workers)]
            processes = [psutil.Process(server.pid) for server in servers]
            homes = [Path(process.cwd()) for process in processes]
            assert len(set(homes)) == 3 and all(home.parent == tmp_path for home in homes)
            for process, home in zip(processes, homes, strict=True):
                assert process.environ()["DAGSTER_HOME"] == str(home / "dagster-home")
                assert process.environ()["REELFLOW_STATE_DIR"] == str(home / "state")

            lost = pool.workers[0]
            pool.kill(lost)
            assert not lost.server.running() and group_members(lost.server.pid) == []
            assert len(pool.workers) == 1 and lost not in pool.workers
        assert all(group_members(server.pid) == [] for server in servers)
