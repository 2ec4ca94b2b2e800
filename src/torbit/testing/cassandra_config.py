"""A test node's cassandra.yaml, logback.xml and JVM command line (cassandra.py): tuned to
start fast on two shared cores, keep every acknowledged write across a kill -9, and never
for production."""

from __future__ import annotations

from pathlib import Path


def node_config(
    root: Path,
    *,
    address: str,
    storage_port: int,
    native_port: int,
    seeds: list[str],
    cluster_name: str,
) -> dict[str, object]:
    """cassandra.yaml as a dict (written as JSON, which YAML parsers read). Keys left out keep
    Cassandra's defaults."""
    return {
        "cluster_name": cluster_name,
        "num_tokens": 1,  # one token: no token allocation work for a test node
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "data_file_directories": [str(root / "data")],
        "commitlog_directory": str(root / "commitlog"),
        "saved_caches_directory": str(root / "saved_caches"),
        "hints_directory": str(root / "hints"),
        "cdc_raw_directory": str(root / "cdc_raw"),
        # Periodic sync (the stock setting) replays after a crash only up to the last sync
        # marker, so a kill -9 loses up to a period of acknowledged writes; in batch mode a
        # write is acknowledged after its marker, and with skip_sync the marker costs no fsync.
        "commitlog_sync": "batch",
        "seed_provider": [
            {
                "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                "parameters": [{"seeds": ",".join(seeds)}],
            }
        ],
        "listen_address": address,
        "rpc_address": address,
        "storage_port": storage_port,
        "native_transport_port": native_port,
        "start_native_transport": True,
        "endpoint_snitch": "SimpleSnitch",
        "concurrent_compactors": 1,
        # tests drop and truncate tables all the time: no snapshot of each
        "auto_snapshot": False,
        "snapshot_on_duplicate_row_detection": False,
        "incremental_backups": False,
        "key_cache_size": "8MiB",
        "counter_cache_size": "1MiB",
        "file_cache_size": "64MiB",
    }


LOGBACK = """<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{log}</file>
    <encoder><pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="WARN"><appender-ref ref="FILE"/></root>
</configuration>
"""

# What Cassandra 5.0 needs from Java 17's module system (see its conf/jvm17-server.options).
_EXPORTS = (
    "java.base/jdk.internal.misc",
    "java.management.rmi/com.sun.jmx.remote.internal.rmi",
    "java.rmi/sun.rmi.registry",
    "java.rmi/sun.rmi.server",
    "java.sql/java.sql",
    "java.base/java.lang.ref",
    "jdk.unsupported/sun.misc",
    "jdk.compiler/com.sun.tools.javac.file",
    "jdk.attach/sun.tools.attach",
)
_OPENS = (
    "java.base/java.lang.module",
    "java.base/jdk.internal.loader",
    "java.base/jdk.internal.ref",
    "java.base/jdk.internal.reflect",
    "java.base/jdk.internal.math",
    "java.base/jdk.internal.module",
    "java.base/jdk.internal.util.jar",
    "jdk.management/com.sun.management.internal",
    "java.base/sun.nio.ch",
    "java.base/java.io",
    "java.base/java.lang.reflect",
    "jdk.compiler/com.sun.tools.javac",
    "java.base/java.lang",
    "java.base/java.util",
)

# Start-up and test-speed switches (Cassandra's CassandraRelevantProperties).
_FAST = {
    "cassandra.skip_wait_for_gossip_to_settle": "0",
    "cassandra.ring_delay_ms": "1000",
    "cassandra.superuser_setup_delay_ms": "0",
    "cassandra.autocompaction_on_startup_enabled": "false",
    "cassandra.skip_sync": "true",  # no fsync: a process crash loses nothing, power loss may
    "cassandra.test.ignore_sigar": "true",
}


def jvm_command(java: str, lib: Path, root: Path, heap: str) -> list[str]:
    jamm = sorted(lib.glob("jamm-*.jar"))
    props = {
        **_FAST,
        "cassandra.config": (root / "cassandra.yaml").as_uri(),
        "cassandra.storagedir": str(root),
        "cassandra.logdir": str(root / "logs"),
        "cassandra.triggers_dir": str(root / "triggers"),
        "cassandra-foreground": "yes",
        "logback.configurationFile": (root / "logback.xml").as_uri(),
        "java.net.preferIPv4Stack": "true",
        "jdk.attach.allowAttachSelf": "true",
        "io.netty.tryReflectionSetAccessible": "true",
        "chronicle.analytics.disable": "true",
        "chronicle.announcer.disable": "true",
    }
    return [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-Xss256k",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=300",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:-UsePerfData",
        *(f"-javaagent:{j}" for j in jamm[:1]),
        *(arg for m in _EXPORTS for arg in ("--add-exports", f"{m}=ALL-UNNAMED")),
        *(arg for m in _OPENS for arg in ("--add-opens", f"{m}=ALL-UNNAMED")),
        *(f"-D{k}={v}" for k, v in props.items()),
        "-cp",
        f"{lib}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]
