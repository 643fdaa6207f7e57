"""A single Cassandra 5.0 node of the dev stack, run from the Maven Central jars."""

from __future__ import annotations

import os

from devstack.jars import bundle_jars
from devstack.network import HOST, port_open
from devstack.service import Service, java


class Cassandra(Service):
    """A single Cassandra 5.0 node from the Maven Central jars, small heap, fast start."""

    name = "cassandra"
    start_timeout_s = 120.0

    @property
    def port(self) -> int:
        return self.settings.cassandra_port

    @property
    def storage_port(self) -> int:
        return self.port + 1

    @property
    def endpoint(self) -> str:
        return f"cql://{HOST}:{self.port}"

    def prepare(self) -> None:
        conf = self.dir / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "cassandra.yaml").write_text(
            CASSANDRA_YAML.format(dir=self.dir, port=self.port, storage_port=self.storage_port)
        )
        (conf / "logback.xml").write_text(LOGBACK_XML)

    def command(self) -> list[str]:
        jars = bundle_jars(self.settings.jar_dir, "cassandra")
        jamm = next(j for j in jars if j.name.startswith("jamm-"))
        conf = self.dir / "conf"
        return [
            java(),
            *CASSANDRA_JVM_FLAGS,
            f"-javaagent:{jamm}",
            f"-Dcassandra.config={(conf / 'cassandra.yaml').as_uri()}",
            f"-Dlogback.configurationFile={conf / 'logback.xml'}",
            f"-Dcassandra.storagedir={self.dir / 'data'}",
            f"-Dcassandra.logdir={self.dir / 'logs'}",
            "-cp",
            os.pathsep.join([str(conf), *map(str, jars)]),
            "org.apache.cassandra.service.CassandraDaemon",
        ]

    def is_ready(self) -> bool:
        if not port_open(self.port):
            return False
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import RoundRobinPolicy

        cluster = Cluster(
            [HOST],
            port=self.port,
            execution_profiles={
                EXEC_PROFILE_DEFAULT: ExecutionProfile(load_balancing_policy=RoundRobinPolicy())
            },
            connect_timeout=2,
            control_connection_timeout=2,
        )
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
            return row is not None
        except Exception:  # noqa: BLE001 - any failure means "not answering yet"
            return False
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
    "-Dcassandra.ring_delay_ms=1",
    "-Dcassandra.initial_token=0",
    "-Dcassandra.superuser_setup_delay_ms=0",
    "-Dcassandra.unsafesystem=true",
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

CASSANDRA_YAML = """\
cluster_name: reelflow-dev
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:{storage_port}"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
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
