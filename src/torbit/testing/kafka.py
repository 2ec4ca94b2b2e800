"""Apache Kafka brokers for tests and benchmarks: KRaft mode, on free loopback ports, from the
jars Maven resolves (kafka_jars.py), each node a plain `java -cp ... kafka.Kafka` process.

Every node is a combined broker and controller. One node is the usual test broker; three make
a cluster with a three-voter controller quorum, replication factor 3 and
`min.insync.replicas=2`, so one node can die (`kill`, SIGKILL) without losing an acknowledged
record, and come back with its data (`restart`). `pause`/`resume` freeze and thaw every node
(SIGSTOP/SIGCONT): connections stay open but nothing answers.

Settings are for tests: small heaps, few threads, in a cluster a broker fenced 3 s after its last
heartbeat (so leaders move soon after a kill), no topic auto-creation (torbit creates its
topics), data in memory (/dev/shm) where there is some.

    python -m torbit.testing.kafka [--brokers 3]    run brokers in the foreground
    python -m torbit.testing.kafka resolve          fetch the jars and prepare them (run-tests)

The jars are kafka_jars.py's; one node's process is kafka_node.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from torbit.testing.kafka_jars import KafkaJars, KafkaMissing, java, resolve
from torbit.testing.kafka_node import KafkaFailed, KafkaNode
from torbit.testing.maven import locked
from torbit.testing.ports import accepts

__all__ = ["KafkaCluster", "KafkaFailed", "KafkaMissing", "KafkaNode", "prepare", "start_kafka"]

T = TypeVar("T")

_LOG4J2 = """\
status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.out.ref = out
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = info
logger.lifecycle.name = org.apache.kafka.server.BrokerLifecycleManager
logger.lifecycle.level = info
"""

_running: set[KafkaCluster] = set()


class KafkaCluster:
    """One or three nodes of one cluster, started by `start_kafka`; a context manager that
    stops every node and deletes their data on exit."""

    def __init__(
        self,
        jars: KafkaJars,
        root: Path,
        size: int,
        *,
        quick: bool,
        keep: bool,
        heap_mb: int,
        jvm_options: Sequence[str] = (),
    ) -> None:
        self.jars = jars
        self.root = root
        self.cluster_id = _random_cluster_id()
        self.nodes = [KafkaNode(i + 1, root / f"node{i + 1}") for i in range(size)]
        self._quick = quick
        self._keep = keep
        self._heap_mb = heap_mb
        self._jvm_options = list(jvm_options)

    # addresses

    @property
    def bootstrap(self) -> str:
        """Every node's broker address: clients find the live ones themselves."""
        return ",".join(node.address for node in self.nodes)

    # lifecycle

    def start(self, timeout: float = 90.0) -> None:
        """Format every node's storage (in parallel) and start them; return once each is a
        registered, unfenced broker."""
        (self.root / "log4j2.properties").write_text(_LOG4J2)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        for node in self.nodes:
            node.home.mkdir(parents=True)
            properties = self.properties(node, voters)
            node.config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        formats = [
            (
                node,
                subprocess.Popen(
                    [
                        *self._java(formatting=True),
                        "kafka.tools.StorageTool",
                        "format",
                        "--cluster-id",
                        self.cluster_id,
                        "--config",
                        str(node.config),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                ),
            )
            for node in self.nodes
        ]
        outputs = [(node, process, process.communicate()[0]) for node, process in formats]
        for node, process, out in outputs:
            if process.returncode != 0:
                raise KafkaFailed(
                    f"formatting node {node.node_id} failed "
                    f"({process.returncode}):\n{out.decode(errors='replace')}"
                )
        for node in self.nodes:
            node.launch([*self._java(formatting=False), "kafka.Kafka"])
        _running.add(self)
        self.wait_ready(timeout)

    def properties(self, node: KafkaNode, voters: str) -> dict[str, str | int]:
        """The node's server.properties: see Kafka's config/server.properties for each key."""
        replicas = min(3, len(self.nodes))
        in_sync = 2 if replicas >= 3 else 1
        properties: dict[str, str | int] = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{node.address},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{node.address}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(node.home / "data"),
            "auto.create.topics.enable": "false",
            "num.partitions": 1,
            "default.replication.factor": replicas,
            "min.insync.replicas": in_sync,
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": 3,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": in_sync,
            "transaction.state.log.num.partitions": 3,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": in_sync,
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 4 if self._quick else 8,
            "background.threads": 4,
            "num.recovery.threads.per.data.dir": 1,
        }
        if len(self.nodes) > 1:
            # Fence a silent broker after 3 s (default 9), so leaders move soon after a kill.
            # Not for a lone broker: on a loaded machine it could miss its own heartbeats and
            # fence itself, an outage for nothing.
            properties["broker.heartbeat.interval.ms"] = 500
            properties["broker.session.timeout.ms"] = 3000
        return properties

    def _java(self, *, formatting: bool) -> list[str]:
        heap = 128 if formatting else self._heap_mb
        options = [
            java(),
            f"-Xmx{heap}m",
            "-XX:-UsePerfData",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
        ]
        if self._quick or formatting:
            # quick to start, light on a small machine; not for throughput
            options += ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
        else:
            options += ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
        if self.jars.class_archive.is_file():
            options.append(f"-XX:SharedArchiveFile={self.jars.class_archive}")
        if not formatting:
            options += self._jvm_options
        return [*options, "-cp", self.jars.classpath]

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until every running node answers and lists every running node as a broker (the
        metadata lists only registered, unfenced brokers); KafkaFailed if a node exits or the
        time is up."""
        deadline = time.monotonic() + timeout
        while True:
            expected = {n.node_id for n in self.nodes if n.running}
            for node in self.nodes:
                if node.exit_code is not None:
                    raise KafkaFailed(
                        f"Kafka node {node.node_id} exited ({node.exit_code}):\n{node.output()}"
                    )
            # A broker opens its port only once it is unfenced; each one asked on its own so
            # that the survivors' memory of a killed node does not pass for the node itself.
            if all(
                accepts(n.port) and expected <= listed_brokers(n.address)
                for n in self.nodes
                if n.running
            ):
                return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- node {n.node_id}:\n{n.output(3000)}" for n in self.nodes)
                raise KafkaFailed(
                    f"Kafka brokers {sorted(expected)} not ready within {timeout:g}s:\n{logs}"
                )
            time.sleep(0.2)

    def kill(self, index: int) -> None:
        """SIGKILL one node (0-based index); the others carry on."""
        self.nodes[index].kill()

    def restart(self, index: int, timeout: float = 90.0) -> None:
        """Start a killed or stopped node again on its ports and data; return once it is a
        broker again (its replicas may still be catching up)."""
        node = self.nodes[index]
        node.kill()
        node.launch([*self._java(formatting=False), "kafka.Kafka"])
        self.wait_ready(timeout)

    def pause(self) -> None:
        """Freeze every node (SIGSTOP)."""
        for node in self.nodes:
            node.freeze()

    def resume(self) -> None:
        for node in self.nodes:
            node.signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop every node (killed: their data goes anyway) and delete it; safe twice."""
        for node in self.nodes:
            node.signal(signal.SIGCONT)
            node.kill()
        _running.discard(self)
        if not self._keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_kafka(
    brokers: int = 1,
    *,
    quick: bool = True,
    heap_mb: int = 384,
    keep: bool = False,
    timeout: float = 90.0,
) -> KafkaCluster:
    """Start a cluster of `brokers` nodes (1, or 3 for replication) in a temp dir and return
    once it is ready. `quick` trades peak speed for a fast, light start (tests); benchmarks
    pass False. A port taken by someone else between choosing and binding it is retried."""
    if brokers not in (1, 3):
        raise ValueError("brokers must be 1 or 3")
    jars = resolve()
    last: KafkaFailed | None = None
    for _ in range(3):
        root = Path(tempfile.mkdtemp(prefix="torbit-kafka-", dir=data_parent()))
        cluster = KafkaCluster(jars, root, brokers, quick=quick, keep=keep, heap_mb=heap_mb)
        try:
            cluster.start(timeout)
            return cluster
        except KafkaFailed as e:
            cluster.stop()
            if "Address already in use" not in str(e):
                raise
            last = e
        except BaseException:
            cluster.stop()
            raise
    assert last is not None
    raise last


def data_parent() -> str | None:
    """Where brokers keep their data: $TORBIT_KAFKA_DIR, else /dev/shm (memory: a broker
    creating a topic writes and fsyncs several files per partition, which on this project's
    disk took ~19 ms a partition against ~8 in memory), else the temp dir. Data in memory
    still outlives the broker's process, which is all a restart test needs."""
    configured = os.environ.get("TORBIT_KAFKA_DIR")
    if configured:
        return configured
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def listed_brokers(bootstrap: str, timeout: float = 2.0) -> set[int]:
    """The ids of the brokers the cluster's metadata lists now; empty if none answers."""

    async def ask() -> set[int]:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await client.bootstrap()
            return {broker.nodeId for broker in client.cluster.brokers()}
        except (KafkaError, OSError, TimeoutError):
            return set()
        finally:
            await client.close()

    return _in_new_loop(ask)


def _in_new_loop(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a loop of its own in another thread: callers may be inside a loop."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _random_cluster_id() -> str:
    """A random Kafka Uuid in its text form (base64url, no padding, not starting with '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def prepare() -> KafkaJars:
    """Resolve the jars, then record a class-data archive of a broker's start (one throw-away
    broker, stopped cleanly, which is when the JVM writes it). Brokers started afterwards map
    the archive instead of loading and verifying thousands of classes: about half the CPU of
    a start. Best effort: without the archive brokers start all the same."""
    jars = resolve()
    archive = jars.class_archive
    if archive.is_file():
        return jars
    with locked(archive.with_suffix(".lock")):
        if archive.is_file():
            return jars
        partial = archive.with_name(f"classes.partial-{os.getpid()}.jsa")
        root = Path(tempfile.mkdtemp(prefix="torbit-kafka-archive-"))
        cluster = KafkaCluster(
            jars,
            root,
            1,
            quick=True,
            keep=False,
            heap_mb=256,
            jvm_options=[f"-XX:ArchiveClassesAtExit={partial}"],
        )
        try:
            cluster.start()
            cluster.nodes[0].stop()
        except KafkaFailed as e:
            print(f"no class archive for Kafka (brokers start without it): {e}", file=sys.stderr)
        finally:
            cluster.stop()
        if partial.is_file() and partial.stat().st_size > 0:
            partial.rename(archive)
        else:
            partial.unlink(missing_ok=True)
    return jars


@atexit.register
def _stop_leftovers() -> None:
    for cluster in list(_running):
        cluster.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m torbit.testing.kafka", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", nargs="?", choices=["run", "resolve"], default="run")
    parser.add_argument("--brokers", type=int, choices=[1, 3], default=1)
    parser.add_argument("--keep", action="store_true", help="keep the data dir at exit")
    args = parser.parse_args(argv)
    # Ctrl-C, SIGINT and SIGTERM stop the brokers and delete their data: a shell ignores
    # SIGINT in a background job (`... &`) and SIGTERM would end Python without its atexit,
    # leaving the JVMs running
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    if args.command == "resolve":
        jars = prepare()
        print(f"Apache Kafka {jars.version}: {jars.lib} ({time.monotonic() - started:.1f} s)")
        return
    with start_kafka(args.brokers, quick=False, keep=args.keep) as cluster:
        print(
            f"Apache Kafka {cluster.jars.version}, {args.brokers} node(s) ready in "
            f"{time.monotonic() - started:.1f} s: bootstrap {cluster.bootstrap}\n"
            f"data and logs in {cluster.root}; Ctrl-C stops it",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            while all(node.running for node in cluster.nodes):
                time.sleep(0.5)


if __name__ == "__main__":
    main()
