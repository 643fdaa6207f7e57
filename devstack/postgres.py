"""PostgreSQL 15 of the dev stack: a cluster initialised on first use, its database created, and
optionally a hot standby streaming from it (`REELFLOW_POSTGRES_REPLICA_DSN`)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from devstack.network import HOST
from devstack.service import Service, ServiceError
from reelflow.settings import Settings


class Postgres(Service):
    """A PostgreSQL 15 cluster, run as the `postgres` system user when started by root."""

    name = "postgres"
    # Fast shutdown: SIGTERM (smart) would wait for every client, and pools never leave.
    stop_signal = signal.SIGINT

    @property
    def dsn(self) -> dict[str, str]:
        parts = urlsplit(self.settings.postgres_dsn)
        return {
            "user": parts.username or "reelflow",
            "password": parts.password or "",
            "dbname": parts.path.lstrip("/") or "reelflow",
        }

    @property
    def port(self) -> int:
        return urlsplit(self.settings.postgres_dsn).port or 5432

    @property
    def endpoint(self) -> str:
        return f"postgresql://{HOST}:{self.port}/{self.dsn['dbname']}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def run_as(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def bin(self, program: str) -> str:
        return str(_postgres_bin_dir() / program)

    def prepare(self) -> None:
        user = self.run_as()
        owned = [self.dir]
        if (self.data_dir / "PG_VERSION").exists():
            _chown(owned, user)
            return
        password_file = self.dir / "initdb-password"
        password_file.write_text(self.dsn["password"] + "\n")
        _chown([*owned, password_file], user)
        os.chmod(self.dir, 0o700)
        try:
            self.run_tool(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                self.dsn["user"],
                f"--pwfile={password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            password_file.unlink(missing_ok=True)

    def run_tool(self, program: str, *args: str) -> None:
        """Run one of PostgreSQL's programs as the server's user in its directory; ServiceError
        with the program's output when it fails."""
        result = subprocess.run(
            [self.bin(program), *args],
            capture_output=True,
            text=True,
            user=self.run_as(),
            cwd=self.dir,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"{program} failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        return [
            self.bin("postgres"),
            "-D",
            str(self.data_dir),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.dir}",
            "-c",
            "max_connections=200",
            "-c",
            "fsync=off" if self.settings.deployment == "local" else "fsync=on",
        ]

    def is_ready(self) -> bool:
        result = subprocess.run(
            [self.bin("pg_isready"), "-h", HOST, "-p", str(self.port), "-q"],
            check=False,
        )
        return result.returncode == 0

    def after_ready(self) -> None:
        import psycopg

        dsn = self.dsn
        with psycopg.connect(
            host=HOST,
            port=self.port,
            user=dsn["user"],
            password=dsn["password"],
            dbname="postgres",
            autocommit=True,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (dsn["dbname"],)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{dsn["dbname"]}"')


class PostgresReplica(Postgres):
    """A hot standby of the dev stack's PostgreSQL on its own port, streaming from it: a base
    backup on first use (`pg_basebackup -R` writes `standby.signal` and `primary_conninfo`), then
    read-only queries on the primary's data, a moment behind it."""

    name = "postgres-replica"

    def __init__(self, settings: Settings, primary: Postgres) -> None:
        super().__init__(settings)
        self.primary = primary
        self.starts_after = primary

    @property
    def port(self) -> int:
        return replica_port(self.settings)

    def prepare(self) -> None:
        user = self.run_as()
        _chown([self.dir], user)
        os.chmod(self.dir, 0o700)
        if (self.data_dir / "PG_VERSION").exists():
            return
        dsn = self.primary.dsn
        primary = (
            f"host={HOST} port={self.primary.port} user={dsn['user']} "
            f"password={dsn['password']} application_name={self.name}"
        )
        try:
            self.run_tool(
                "pg_basebackup",
                "-d",
                primary,
                "-D",
                str(self.data_dir),
                "-R",
                "--wal-method=stream",
                "--checkpoint=fast",
            )
        except ServiceError:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise

    def after_ready(self) -> None:
        """Nothing to create: a standby has what the primary has."""


def replica_port(settings: Settings) -> int:
    """The standby's port: that of `REELFLOW_POSTGRES_REPLICA_DSN`, else the primary's + 1."""
    if settings.postgres_replica_dsn:
        return urlsplit(settings.postgres_replica_dsn).port or 5432
    return (urlsplit(settings.postgres_dsn).port or 5432) + 1


def _chown(paths: list[Path], user: str | None) -> None:
    if user is None:
        return
    account = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, account.pw_uid, account.pw_gid)


def _postgres_bin_dir() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "postgres").exists():
            return candidate
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise ServiceError("PostgreSQL server binaries not found (install postgresql-15)")
