"""What every drill needs: `torbit serve` as a subprocess (so it can be killed outright and its
memory and descriptors read from /proc), the two deployments, and the one-line summary.

The drills in this package are shared by the CI tests next to it (short) and by
`bench/drills.py` (long, by hand): each drill is an async function that takes its sizes as
arguments, does its work against a `ServerProcess` and returns a `Report`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import CHEAP_ARGON2
from tests.helpers.serve import output_tail, serve
from torbit.testing.ports import free_port

PASSWORD = "drill-password"


@dataclass(frozen=True)
class Deployment:
    """Where a node keeps its data. `embedded`: SQLite in the node's own directory and the
    local log; `scale-out`: a PostgreSQL database and a Kafka-protocol broker."""

    name: str
    storage_url: str | None = None  # None: sqlite:///<workdir>/torbit.db
    bus_url: str = "local"
    topic_prefix: str = "torbit"
    broker_data: Path | None = None  # the broker's data directory, if it is ours to measure

    @classmethod
    def scale_out(
        cls, pg_url: str, bootstrap: str, topic_prefix: str, broker_data: Path | None = None
    ) -> Deployment:
        return cls("postgres-kafka", pg_url, f"kafka://{bootstrap}", topic_prefix, broker_data)

    def broker_bytes(self) -> int:
        """What this deployment's topics take on the broker's disk (blocks: index files are
        preallocated sparse), 0 if unknown."""
        if self.broker_data is None:
            return 0
        dirs = [d for d in self.broker_data.rglob(f"{self.topic_prefix}.*") if d.is_dir()]
        return sum(p.stat().st_blocks * 512 for d in dirs for p in d.iterdir() if p.is_file())

    @property
    def on_postgres(self) -> bool:
        return (self.storage_url or "").startswith("postgresql")


EMBEDDED = Deployment("embedded")


def drill_env(workdir: Path, deployment: Deployment) -> dict[str, str]:
    """The settings of a drill node: abuse limits off (every drill client comes from
    127.0.0.1 and is faster than a person), cheap argon2, no history on join (so a client that
    comes back after a crash never mistakes an old message for a new acknowledgement)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
    env.update({f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()})
    env.update(
        {
            "TORBIT_STORAGE__URL": deployment.storage_url or f"sqlite:///{workdir / 'torbit.db'}",
            "TORBIT_MESSAGE_LOG__URL": deployment.bus_url,
            "TORBIT_MESSAGE_LOG__TOPIC_PREFIX": deployment.topic_prefix,
            "TORBIT_LOG__DIR": str(workdir / "logs"),
            "TORBIT_LIMITS__MESSAGE_RATE": "0",
            "TORBIT_LIMITS__ROOM_MESSAGE_RATE": "0",
            "TORBIT_LIMITS__READ_RATE": "0",  # the checks read back everything sent
            # every client comes from one address, many log in at once
            "TORBIT_LIMITS__REGISTRATIONS_PER_ADDRESS": "0",
            "TORBIT_LIMITS__REGISTRATIONS_PER_HOUR": "0",
            "TORBIT_ACCOUNTS__HASH_QUEUE": "100000",
            "TORBIT_LIMITS__LOGIN_ADDRESS_FREE_ATTEMPTS": "0",  # 25 HTTP senders log in at once
            "TORBIT_LIMITS__CONNECTIONS_PER_IP": "0",
            "TORBIT_LIMITS__CONNECTION_RATE": "0",
            "TORBIT_LIMITS__MAX_CONNECTIONS": "0",
            "TORBIT_LIMITS__ROOMS_PER_USER": "0",
            "TORBIT_CHAT__HISTORY_ON_JOIN": "0",
        }
    )
    return env


class ServerProcess:
    """`torbit serve` in a subprocess on ports of its own. The ports and the data directory
    stay the same across `start`s, so clients come back to the same address after a crash."""

    def __init__(self, workdir: Path, deployment: Deployment = EMBEDDED, **env: str) -> None:
        self.workdir = workdir
        self.deployment = deployment
        self.telnet_port = free_port()
        self.http_port = free_port()
        self.env = drill_env(workdir, deployment)
        self.env.update(
            {
                "TORBIT_TELNET__PORT": str(self.telnet_port),
                "TORBIT_HTTP__PORT": str(self.http_port),
                "TORBIT_IRC__PORT": "0",
                **env,
            }
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, ready_within: float = 60.0) -> None:
        """Start and wait until /readyz answers 200 (store and message log reachable)."""
        assert not self.running, "already running"
        self.starts += 1
        self._proc = serve(self.workdir, self.env, self.http_port, ready_within)

    def kill(self) -> None:
        """SIGKILL: no goodbyes, no flushing, as in a crash or a pulled plug."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM and a graceful shutdown (SIGKILL after `grace`); the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._proc.returncode

    def check_alive(self) -> None:
        if not self.running:
            code = self._proc.returncode if self._proc else None
            raise AssertionError(f"torbit died (exit {code}):\n{self.output()}")

    # what /proc says

    def rss(self) -> int:
        """Resident memory in bytes (VmRSS of /proc/PID/status)."""
        with open(f"/proc/{self.pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError(f"no VmRSS for {self.pid}")

    def fds(self) -> int:
        """Open file descriptors (entries of /proc/PID/fd)."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def settle(
        self, busy: float | None = None, window: float = 0.5, max_wait: float = 30.0
    ) -> float:
        """Wait until the server uses less than `busy` of a core over `window` seconds (its
        backlog worked off) or `max_wait` passed; the seconds waited. By default `busy` is
        0.05, and 0.15 on a node sharing Apache Kafka: its live consumer's fetches (every
        5 ms by default, `message_log.fetch_wait_ms`) take 0.04-0.09 of a core on an idle
        node, so a 0.05 bar made most of its settles wait out `max_wait`."""
        if busy is None:
            busy = 0.15 if self.deployment.bus_url.startswith("kafka") else 0.05
        start = time.monotonic()
        while True:
            before = self.cpu_seconds()
            await asyncio.sleep(window)
            if self.cpu_seconds() - before < busy * window or time.monotonic() - start > max_wait:
                return time.monotonic() - start

    # what the server wrote

    def output(self, tail: int = 4000) -> str:
        return output_tail(self.workdir, tail)

    def app_log(self) -> str:
        """The app log file (and its rotated predecessors), oldest first."""
        logs = self.workdir / "logs"
        files = sorted(logs.glob("torbit.log.*"), key=lambda p: -int(p.suffix[1:]))
        files.append(logs / "torbit.log")
        return "".join(p.read_text(errors="replace") for p in files if p.exists())

    def storage_bytes(self) -> int:
        """The SQLite database with its WAL and shared-memory files (0 for PostgreSQL)."""
        return sum(p.stat().st_size for p in self.workdir.glob("torbit.db*"))


def second_node(first: ServerProcess) -> ServerProcess:
    """Another node of `first`'s cluster (same database and broker, same settings, ports and
    directory of its own): for drills that put clients on two nodes."""
    if first.deployment.storage_url is None:
        raise ValueError("an embedded node has no cluster: two nodes need postgres-kafka")
    extra = {
        k: v
        for k, v in first.env.items()
        if k.startswith("TORBIT_")
        and k not in ("TORBIT_TELNET__PORT", "TORBIT_HTTP__PORT", "TORBIT_LOG__DIR")
    }
    return ServerProcess(
        first.workdir.with_name(first.workdir.name + "-b"), first.deployment, **extra
    )


async def pg_database_bytes(url: str) -> int:
    """What a PostgreSQL database takes on disk (`pg_database_size`)."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url, timeout=10)
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


def load_average() -> str:
    """The machine's 1-minute load average (2 cores, shared with other jobs): context for
    every latency a drill reports."""
    return f"{os.getloadavg()[0]:.2f}"


def mb(n: float) -> str:
    return f"{n / 2**20:.1f}"


@dataclass
class Report:
    """What a drill did and found, in numbers; `line()` is the summary the README quotes."""

    drill: str
    deployment: str
    load: str
    faults: str
    acknowledged: int = 0
    lost: int = 0
    rss_before: int = 0
    rss_after: int = 0
    fds_before: int = 0
    fds_after: int = 0
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        parts = [
            f"drill={self.drill}",
            f"deployment={self.deployment}",
            f"load={self.load!r}",
            f"faults={self.faults!r}",
            f"acked={self.acknowledged}",
            f"lost={self.lost}",
        ]
        if self.rss_before:  # a drill against a server process
            parts += [
                f"rss_mb={mb(self.rss_before)}->{mb(self.rss_after)}",
                f"fds={self.fds_before}->{self.fds_after}",
            ]
        parts.append(f"seconds={self.seconds:.1f}")
        parts += [f"{k}={v}" for k, v in self.extra.items()]
        return " ".join(parts)


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
