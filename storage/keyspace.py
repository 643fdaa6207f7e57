"""The history's Cassandra cluster: driver sessions and the keyspace's versioned CQL schema.

`apply_schema` (run by `reelflow migrate`, and nothing else) creates the keyspace, brings its
replication to the configured one and applies each `cql/NNNN_*.cql` file once, recording it in
the keyspace's `schema_version` table. `check_schema` is what everything else runs: it refuses
a keyspace older than this release. `History` (storage/history.py) reads and writes it.
"""

from __future__ import annotations

import ast
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

from cassandra import ConsistencyLevel, DriverException, ProtocolVersion
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.connection import ProtocolVersionUnsupported
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.protocol import ProtocolException
from cassandra.query import SimpleStatement

from reelflow.settings import CassandraConsistency

log = logging.getLogger(__name__)

CQL_DIR = Path(__file__).resolve().parent / "cql"

# The default for reads and writes (each a setting): LOCAL_QUORUM both ways gives R + W > RF
# inside the local data centre, so record_watch's read-before-write always sees the previous
# write (watched_s accumulates and the old history row is found and deleted), and a viewer
# switching devices resumes at the latest position. LOCAL rather than plain QUORUM keeps a
# remote data centre out of the latency path and out of the availability budget. The schema's
# own bookkeeping always uses it.
CONSISTENCY = ConsistencyLevel.LOCAL_QUORUM
CONSISTENCY_LEVELS: tuple[str, ...] = get_args(CassandraConsistency)

# Schema changes wait for every node to agree on the schema; on a busy machine that takes
# longer than the driver's 10 s default for ordinary requests.
DDL_TIMEOUT_S = 120.0

SECONDS_PER_DAY = 86_400

_KEYSPACE_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")
_CQL_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.cql")
_TTL_TABLES = (
    "watch_events_by_day",
    "event_days_by_user",
    "playback_sessions",
    "playback_events_by_day",
)


class SchemaOutOfDate(RuntimeError):
    """The keyspace is missing or older than this release's schema."""


def consistency_level(name: str) -> int:
    """The driver's value for a consistency level name such as ``LOCAL_QUORUM``."""
    if name not in CONSISTENCY_LEVELS:
        raise ValueError(
            f"unknown consistency level {name!r}; one of {', '.join(CONSISTENCY_LEVELS)}"
        )
    return int(ConsistencyLevel.name_to_value[name])


def open_session(contact_points: list[str], port: int, local_dc: str | None = None) -> Session:
    """A driver session on the configured cluster; close it with `session.cluster.shutdown()`.

    Requests go to a replica of their partition (token aware) in ``local_dc`` (other data
    centres are never used; without a name, the data centre of the first contact point).
    Protocol v5 is tried first (Cassandra 4.0+: checksummed frames) and v4 only when the
    server refuses it; the version is pinned so the driver never silently negotiates down.
    """
    try:
        return _connect(contact_points, port, ProtocolVersion.V5, local_dc)
    except NoHostAvailable as exc:
        if not _protocol_refused(exc):
            raise
        log.info("Cassandra refused protocol v5; using v4")
    return _connect(contact_points, port, ProtocolVersion.V4, local_dc)


def latest_version() -> int:
    """The schema version this release needs: that of its newest CQL file."""
    return schema_files()[-1][0]


def schema_version(session: Session, keyspace: str) -> int | None:
    """The newest schema version applied to ``keyspace``, or None when it has no schema."""
    check_keyspace(keyspace)
    tables = session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s "
        "AND table_name = 'schema_version'",
        (keyspace,),
    )
    if tables.one() is None:
        return None
    rows = session.execute(
        SimpleStatement(
            f"SELECT version FROM {keyspace}.schema_version", consistency_level=CONSISTENCY
        )
    )
    return max((row.version for row in rows), default=None)


def check_schema(session: Session, keyspace: str) -> int:
    """The keyspace's schema version; `SchemaOutOfDate` when it is older than this release's.

    A newer one is accepted: a release rolled out after `reelflow migrate` only adds to it.
    """
    version = schema_version(session, keyspace)
    needed = latest_version()
    if version is None or version < needed:
        found = "has no schema" if version is None else f"is at schema version {version}"
        raise SchemaOutOfDate(
            f"Cassandra keyspace {keyspace!r} {found}; this release needs version {needed}. "
            "Run `reelflow migrate` first."
        )
    return version


def apply_schema(
    session: Session,
    keyspace: str,
    replication: str,
    *,
    event_ttl_days: int | None = None,
) -> list[str]:
    """Create the keyspace and apply each `cql/NNNN_*.cql` not applied yet, in order.

    Returns the names of the files applied by this call (empty when the schema was current).
    With `event_ttl_days`, the default TTL of the event tables is set to it as well.
    """
    check_keyspace(keyspace)
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}",
        timeout=DDL_TIMEOUT_S,
    )
    _align_replication(session, keyspace, replication)
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.schema_version "
        "(version int PRIMARY KEY, name text, applied_at timestamp)",
        timeout=DDL_TIMEOUT_S,
    )
    done = {
        row.version
        for row in session.execute(
            SimpleStatement(
                f"SELECT version FROM {keyspace}.schema_version", consistency_level=CONSISTENCY
            )
        )
    }
    record = SimpleStatement(
        f"INSERT INTO {keyspace}.schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
        consistency_level=CONSISTENCY,
    )
    applied = []
    for version, path in schema_files():
        if version in done:
            continue
        for statement in _statements(path.read_text(), keyspace, replication):
            session.execute(statement, timeout=DDL_TIMEOUT_S)
        session.execute(record, (version, path.stem, datetime.now(UTC)))
        log.info("applied %s to keyspace %s", path.name, keyspace)
        applied.append(path.stem)
    if event_ttl_days is not None:
        _set_event_ttl(session, keyspace, event_ttl_days)
    return applied


def schema_files() -> list[tuple[int, Path]]:
    """The versioned CQL files, ordered by version."""
    files: dict[int, Path] = {}
    for path in CQL_DIR.glob("*.cql"):
        match = _CQL_FILE.fullmatch(path.name)
        if match is None:
            raise ValueError(f"{path.name}: schema files are named NNNN_description.cql")
        version = int(match.group(1))
        if version in files:
            raise ValueError(
                f"schema version {version} is used by {files[version].name} and {path.name}"
            )
        files[version] = path
    return sorted(files.items())


def replication_map(replication: str) -> dict[str, str]:
    """A CQL replication literal as the map `system_schema.keyspaces` stores: the strategy's
    short class name and every option as text."""
    try:
        literal = ast.literal_eval(replication)
    except (ValueError, SyntaxError) as exc:
        raise ValueError(f"replication {replication!r} is not a CQL map literal") from exc
    if not isinstance(literal, dict) or "class" not in literal:
        raise ValueError(f"replication {replication!r} names no 'class'")
    return {str(k): _short(str(v)) if k == "class" else str(v) for k, v in literal.items()}


def _short(strategy: str) -> str:
    return strategy.rsplit(".", 1)[-1]


def _align_replication(session: Session, keyspace: str, replication: str) -> None:
    """Alter the keyspace when its replication is not the configured one. Raising the factor
    leaves existing data on fewer replicas until `nodetool repair --full` has run on each node."""
    wanted = replication_map(replication)
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
    ).one()
    current = {k: _short(v) if k == "class" else v for k, v in dict(row.replication).items()}
    if current == wanted:
        return
    session.execute(
        f"ALTER KEYSPACE {keyspace} WITH replication = {replication}", timeout=DDL_TIMEOUT_S
    )
    log.warning(
        "keyspace %s replication changed from %s to %s: run `nodetool repair --full %s` on "
        "every node so existing data reaches its new replicas",
        keyspace,
        current,
        wanted,
        keyspace,
    )


def _connect(
    contact_points: list[str], port: int, protocol_version: int, local_dc: str | None
) -> Session:
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)),
        consistency_level=CONSISTENCY,
    )
    cluster = Cluster(
        contact_points,
        port=port,
        protocol_version=protocol_version,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    try:
        return cluster.connect()
    except BaseException:
        cluster.shutdown()
        raise


def _protocol_refused(exc: NoHostAvailable) -> bool:
    # With a pinned version the driver reports a refusal as a DriverException naming it.
    return any(
        isinstance(error, ProtocolVersionUnsupported | ProtocolException)
        or (isinstance(error, DriverException) and "protocol_version" in str(error))
        for error in exc.errors.values()
    )


def _statements(text: str, keyspace: str, replication: str) -> list[str]:
    # Placeholders are replaced, not str.format()ed: CQL map literals are full of braces.
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    body = "\n".join(lines).replace("{keyspace}", keyspace).replace("{replication}", replication)
    statements = [statement.strip() for statement in body.split(";") if statement.strip()]
    for statement in statements:
        if statement.count("'") % 2:
            raise ValueError(f"a ';' inside a string literal split this statement: {statement}")
    return statements


def _set_event_ttl(session: Session, keyspace: str, ttl_days: int) -> None:
    ttl_s = ttl_days * SECONDS_PER_DAY
    rows = session.execute(
        "SELECT table_name, default_time_to_live FROM system_schema.tables "
        "WHERE keyspace_name = %s",
        (keyspace,),
    )
    for row in rows:
        if row.table_name in _TTL_TABLES and row.default_time_to_live != ttl_s:
            session.execute(
                f"ALTER TABLE {keyspace}.{row.table_name} WITH default_time_to_live = {ttl_s}",
                timeout=DDL_TIMEOUT_S,
            )


def check_keyspace(keyspace: str) -> None:
    if _KEYSPACE_NAME.fullmatch(keyspace) is None:
        raise ValueError(
            f"keyspace {keyspace!r} is not a valid name: lower-case letters, digits and "
            "underscores, starting with a letter, at most 48 characters"
        )
