"""Cassandra 5.0 nodes of the dev stack, run from the Maven Central jars: one by default, or a
ring of up to three on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (`REELFLOW_CASSANDRA_NODES`).

Every node of a ring uses the same ports on its own loopback address, has its own directory
(`cassandra`, `cassandra-2`, `cassandra-3`) and one token, evenly spaced; the first is the seed.
Each starts only once the one before answers, so it joins a ring whose members are all up.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from devstack.jars import bundle_jars
from devstack.network import port_open
from devstack.service import Service, ServiceError, java
from reelflow.settings import Settings

MAX_NODES = 3
# One token each (num_tokens 1), a third of the Murmur3 ring apart, the first at 0.
TOKEN_STEP = 2**64 // MAX_NODES
JOIN_RING_DELAY_MS = 5000
FIRST_HOST = "127.0.0.1"


def ring(settings: Settings, nodes: int | None = None) -> list[Cassandra]:
    """The nodes of the configured ring (or the first ``nodes``), each to start after the one
    before it."""
    members: list[Cassandra] = []
    for node in range(1, (nodes or settings.cassandra_nodes) + 1):
        members.append(Cassandra(settings, node, after=members[-1] if members else None))
    return members


class Cassandra(Service):
    """One Cassandra 5.0 node from the Maven Central jars, small heap, fast start."""

    start_timeout_s = 180.0

    def __init__(self, settings: Settings, node: int = 1, after: Cassandra | None = None) -> None:
        super().__init__(settings)
        if not 1 <= node <= MAX_NODES:
            raise ValueError(f"a dev ring has nodes 1 to {MAX_NODES}, not {node}")
        self.node = node
        self.name = "cassandra" if node == 1 else f"cassandra-{node}"
        self.starts_after = after

    @property
    def host(self) -> str:
        return f"127.0.0.{self.node}"

    @property
    def port(self) -> int:
        return self.settings.cassandra_port

    @property
    def storage_port(self) -> int:
        return self.port + 1

    @property
    def jmx_port(self) -> int:
        """Local JMX (nodetool), bound to 127.0.0.1 whatever the node's address: one each."""
        return self.port + 1 + self.node

    @property
    def token(self) -> int:
        token = (self.node - 1) * TOKEN_STEP
        return token - 2**64 if token >= 2**63 else token

    @property
    def endpoint(self) -> str:
        return f"cql://{self.host}:{self.port}"

    def prepare(self) -> None:
        conf = self.dir / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "cassandra.yaml").write_text(
            CASSANDRA_YAML.format(
                dir=self.dir, host=self.host, port=self.port, storage_port=self.storage_port
            )
        )
        (conf / "logback.xml").write_text(LOGBACK_XML)
        (conf / "logback-tools.xml").write_text(LOGBACK_TOOLS_XML)

    def command(self) -> list[str]:
        jars = bundle_jars(self.settings.jar_dir, "cassandra")
        jamm = next(j for j in jars if j.name.startswith("jamm-"))
        conf = self.dir / "conf"
        return [
            java(),
            *CASSANDRA_JVM_FLAGS,
            # The seed has nobody to wait for; a joining node's first gossip round with the
            # seed must have time to be answered.
            f"-Dcassandra.ring_delay_ms={1 if self.starts_after is None else JOIN_RING_DELAY_MS}",
            f"-Dcassandra.initial_token={self.token}",
            # Unsynced system tables start a lone node faster; a ring node killed mid-way must
            # keep its schema, or it comes back without the keyspace.
            f"-Dcassandra.unsafesystem={'true' if self.settings.cassandra_nodes == 1 else 'false'}",
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            f"-javaagent:{jamm}",
            f"-Dcassandra.config={(conf / 'cassandra.yaml').as_uri()}",
            f"-Dlogback.configurationFile={conf / 'logback.xml'}",
            f"-Dcassandra.storagedir={self.dir / 'data'}",
            f"-Dcassandra.logdir={self.dir / 'logs'}",
            "-cp",
            os.pathsep.join([str(conf), *map(str, jars)]),
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def nodetool(self, *args: str, timeout_s: float = 600.0) -> str:
        """Run `nodetool` against this node; its output, or ServiceError with it."""
        jars = bundle_jars(self.settings.jar_dir, "cassandra")
        command = [
            java(),
            *NODETOOL_JVM_FLAGS,
            f"-Dlogback.configurationFile={self.dir / 'conf' / 'logback-tools.xml'}",
            "-cp",
            os.pathsep.join(map(str, jars)),
            "org.apache.cassandra.tools.NodeTool",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.jmx_port),
            *args,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise ServiceError(
                f"nodetool {' '.join(args)} on {self.name}: {done.stdout}{done.stderr}"
            )
        return done.stdout

    def is_ready(self) -> bool:
        """This node answers CQL and, in a ring, the first node counts it among its peers (it
        has gossiped the node's tokens as normal)."""
        if not port_open(self.port, self.host):
            return False
        if _rows(self.host, self.port, "SELECT release_version FROM system.local") is None:
            return False
        if self.node == 1:
            return True
        peers = _rows(FIRST_HOST, self.port, "SELECT peer FROM system.peers_v2")
        return peers is not None and self.host in {str(row.peer) for row in peers}


def _rows(host: str, port: int, cql: str) -> list[Any] | None:
    """The rows one node answers to `cql`, or None when it does not answer."""
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.policies import WhiteListRoundRobinPolicy

    cluster = Cluster(
        [host],
        port=port,
        execution_profiles={
            EXEC_PROFILE_DEFAULT: ExecutionProfile(
                load_balancing_policy=WhiteListRoundRobinPolicy([host])
            )
        },
        connect_timeout=2,
        control_connection_timeout=2,
    )
    try:
        return list(cluster.connect().execute(cql))
    except Exception:  # noqa: BLE001 - any failure means "not answering yet"
        return None
    finally:
        cluster.shutdown()


CASSANDRA_JVM_FLAGS = [
    "-Xms512m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:ParallelGCThreads=2",
    "-XX:ConcGCThreads=1",
    "-Djava.net.preferIPv4Stack=true",
    "-Dcassandra-foreground=yes",
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.system_distributed.default_rf=1",
    "-Dcassandra.system_traces.default_rf=1",
    "-Dcassandra.available_processors=2",
    "-Djdk.attach.allowAttachSelf=true",
    "-Dio.netty.tryReflectionSetAccessible=true",
    *(
        f"--add-exports={module}=ALL-UNNAMED"
        for module in (
            "java.base/jdk.internal.misc",
            "java.management.rmi/com.sun.jmx.remote.internal.rmi",
            "java.rmi/sun.rmi.registry",
            "java.rmi/sun.rmi.server",
            "java.sql/java.sql",
            "java.base/java.lang.ref",
            "jdk.unsupported/sun.misc",
            "jdk.compiler/com.sun.tools.javac.file",
            "jdk.attach/sun.tools.attach",
            "java.management/com.sun.jmx.remote.security",
        )
    ),
    *(
        f"--add-opens={module}=ALL-UNNAMED"
        for module in (
            "java.base/java.lang.module",
            "java.base/jdk.internal.loader",
            "java.base/jdk.internal.ref",
            "java.base/jdk.internal.reflect",
            "java.base/jdk.internal.math",
            "java.base/jdk.internal.module",
            "java.base/jdk.internal.util.jar",
            "java.base/sun.nio.ch",
            "java.base/java.io",
            "java.base/java.lang.reflect",
            "java.base/java.lang",
            "java.base/java.util",
            "java.base/java.nio",
            "jdk.management/com.sun.management.internal",
            "jdk.compiler/com.sun.tools.javac",
        )
    ),
]

# nodetool is a JMX client from the same jars: the server's module access, a small heap.
NODETOOL_JVM_FLAGS = [
    "-Xmx256m",
    "-Djava.net.preferIPv4Stack=true",
    *(flag for flag in CASSANDRA_JVM_FLAGS if flag.startswith("--add-")),
]

CASSANDRA_YAML = """\
cluster_name: reelflow-dev
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage_port}"
listen_address: {host}
rpc_address: {host}
native_transport_port: {port}
storage_port: {storage_port}
start_native_transport: true
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories:
  - {dir}/data/data
commitlog_directory: {dir}/data/commitlog
saved_caches_directory: {dir}/data/saved_caches
hints_directory: {dir}/data/hints
cdc_raw_directory: {dir}/data/cdc_raw
cdc_enabled: false
auto_snapshot: false
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 4
concurrent_materialized_view_writes: 2
compaction_throughput: 0MiB/s
"""

LOGBACK_XML = """\
<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %logger{20} - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""

# nodetool's own logging (netty's debug lines) kept out of its output; errors still reach stderr.
LOGBACK_TOOLS_XML = """\
<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%-5level %logger{20} - %msg%n</pattern></encoder>
  </appender>
  <root level="ERROR"><appender-ref ref="STDERR"/></root>
</configuration>
"""
