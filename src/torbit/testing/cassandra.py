"""Run Apache Cassandra for tests and bench scripts: the server's jars come from Maven Central
(deploy/cassandra/pom.xml, resolved once into a cache folder) and `CassandraDaemon` runs in
the foreground from that classpath, with a generated cassandra.yaml whose data directories
live in a temp dir and whose ports are free loopback ones.

    python -m torbit.testing.cassandra [DIR]    runs one for a person and prints its address
    python -m torbit.testing.cassandra --resolve    only resolves the jars (./run-tests)

Start-up is tuned for tests (6-12 s on two shared cores): no wait for gossip to settle, a
short ring delay, no fsync, no auto-compaction at start. The commit log runs in batch mode
(a write is acknowledged once logged; without fsync that costs nothing), so a node killed
with -9 and restarted on the same directory keeps every acknowledged write and its schema.
Cassandra's test switches that skip the commit log for schema and system tables
(cassandra.unsafesystem, cassandra.test.flush_local_schema_changes) were tried and dropped:
a killed node came back without its keyspaces. Nothing here is fit for production.

    TORBIT_CASSANDRA_LIB   a folder of jars to use instead (e.g. a Cassandra tarball's lib/)
    TORBIT_CACHE           where resolved jars are kept (default ~/.cache/torbit)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from torbit.testing.cassandra_config import LOGBACK, jvm_command, node_config
from torbit.testing.cassandra_jars import java_binary, resolve_jars
from torbit.testing.freeze import freeze, thaw
from torbit.testing.ports import free_port

DEFAULT_HEAP = "768m"
START_TIMEOUT_S = 120.0


class CassandraFailed(RuntimeError):
    """The node exited or did not answer CQL in time."""


# the CQL check


def cql_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a CQL OPTIONS request (protocol v4 framing, legal before STARTUP) is answered
    with SUPPORTED: the native transport is up, not just the socket."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">BBhBI", 0x04, 0, 0, 0x05, 0))  # OPTIONS
            header = b""
            while len(header) < 9:
                chunk = s.recv(9 - len(header))
                if not chunk:
                    return False
                header += chunk
    except OSError:
        return False
    version, _flags, _stream, opcode, _length = struct.unpack(">BBhBI", header)
    return bool(version == 0x84 and opcode == 0x06)  # a v4 response, SUPPORTED


_PORT_TAKEN = ("in use by another process", "Address already in use", "BindException")


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it when the thread that started it ends, so
    a test run that is killed leaves no JVM behind. (Start nodes from the main thread.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


class CassandraNode:
    """One CassandraDaemon process on loopback ports; a context manager that stops it and
    deletes its directory on exit. `kill()` and `restart()` keep the data (crash tests);
    `pause()` freezes it (outage tests)."""

    def __init__(
        self,
        root: Path,
        *,
        address: str = "127.0.0.1",
        heap: str = DEFAULT_HEAP,
        seeds: list[str] | None = None,
        storage_port: int | None = None,
        cluster_name: str = "torbit-test",
        owns_root: bool = True,
    ) -> None:
        self.root = root
        self.address = address
        self.heap = heap
        self.storage_port = storage_port or free_port(address)
        self.port = free_port(address)  # the native (CQL) port
        self._seeds = seeds  # None: the node is its own seed
        self.cluster_name = cluster_name
        self._owns_root = owns_root
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self.started_in: float | None = None  # seconds the last start took

    @classmethod
    def start(cls, root: Path | None = None, **kw: object) -> CassandraNode:
        """Resolve the jars (first time only), start a node and return once it answers CQL."""
        owns = root is None
        node = cls(root or Path(tempfile.mkdtemp(prefix="torbit-cassandra-")), owns_root=owns, **kw)  # type: ignore[arg-type]
        try:
            for attempt in range(3):
                try:
                    node.run()
                    return node
                except CassandraFailed as e:
                    # a free port can be taken by someone else in the seconds before the JVM
                    # binds it: try again on others
                    if attempt == 2 or not any(m in str(e) for m in _PORT_TAKEN):
                        raise
                    node.terminate()
                    node.storage_port, node.port = free_port(node.address), free_port(node.address)
        except BaseException:
            node.stop()
            raise
        raise AssertionError("unreachable")

    @property
    def seeds(self) -> list[str]:
        return self._seeds or [f"{self.address}:{self.storage_port}"]

    @property
    def contact_point(self) -> str:
        return f"{self.address}:{self.port}"

    def url(self, keyspace: str) -> str:
        """The storage URL of a keyspace on this node."""
        return f"cassandra://{self.contact_point}/{keyspace}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the node's system.log and console output, for failure messages."""
        out: list[str] = []
        for name in ("logs/system.log", "console.log"):
            path = self.root / name
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(out)

    def run(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the process (on the same directory and ports as before, if restarted)."""
        if self.running:
            return
        lib, java = resolve_jars(), java_binary()
        for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw", "logs", "triggers"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        config = node_config(
            self.root,
            address=self.address,
            storage_port=self.storage_port,
            native_port=self.port,
            seeds=self.seeds,
            cluster_name=self.cluster_name,
        )
        (self.root / "cassandra.yaml").write_text(json.dumps(config, indent=1) + "\n")
        (self.root / "logback.xml").write_text(LOGBACK.format(log=self.root / "logs/system.log"))
        began = time.monotonic()
        with (self.root / "console.log").open("ab") as console:
            self._process = subprocess.Popen(
                jvm_command(java, lib, self.root, self.heap),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, not the JVM
                preexec_fn=_die_with_parent,
            )
        deadline = began + timeout
        while not cql_answers(self.address, self.port):
            if not self.running:
                raise CassandraFailed(
                    f"Cassandra exited at start ({self._process.returncode}):\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise CassandraFailed(
                    f"Cassandra did not answer CQL on {self.contact_point} "
                    f"within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        self.started_in = time.monotonic() - began

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers (every thread stopped on return)."""
        freeze(self.pid)
        self._paused = True

    def resume(self) -> None:
        if self._paused:
            thaw(self.pid)
            self._paused = False

    def kill(self) -> None:
        """kill -9, keeping the data directory (restart with `run()`)."""
        self.resume()
        if self.running:
            assert self._process is not None
            self._process.kill()
        if self._process is not None:
            self._process.wait()

    def restart(self) -> None:
        self.terminate()
        self.run()

    def terminate(self, timeout: float = 20.0) -> None:
        """Stop the process (SIGTERM, then SIGKILL), keeping the data directory."""
        self.resume()
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop(self) -> None:
        """Stop the process and, if this node made its directory, delete it. Safe twice.
        A node whose data goes with it is killed: its orderly shutdown (a drain, memtables
        flushed) took seconds at the end of every test session, for files deleted next."""
        if self._owns_root:
            self.kill()
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            self.terminate()

    def __enter__(self) -> CassandraNode:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m torbit.testing.cassandra", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("dir", nargs="?", type=Path, help="data directory (default: a temp dir)")
    parser.add_argument("--resolve", action="store_true", help="only resolve the jars")
    args = parser.parse_args(argv)
    if args.resolve:  # ./run-tests: only fetch the jars
        began = time.monotonic()
        print(f"Cassandra jars: {resolve_jars()} ({time.monotonic() - began:.1f}s)")
        return
    root = args.dir.resolve() if args.dir is not None else None  # cassandra.yaml's URI
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the node on kill too
    began = time.monotonic()
    lib = resolve_jars()
    print(f"jars: {lib} ({time.monotonic() - began:.1f}s)", flush=True)
    with CassandraNode.start(root) as node:
        print(
            f"Cassandra (pid {node.pid}) answers CQL on {node.contact_point} after "
            f"{node.started_in:.1f}s; data in {node.root}; storage url "
            f"{node.url('torbit')}; Ctrl-C stops it",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            assert node._process is not None
            node._process.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
