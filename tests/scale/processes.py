"""A torbit node as a subprocess, so the outage tests can kill it outright and start it again.
Their PostgreSQL server of their own is torbit.testing.postgres.PrivatePostgres."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers.serve import serve
from torbit.testing.ports import free_port
from torbit.testing.postgres import PrivatePostgres

_CHEAP_ARGON2 = {
    "TORBIT_ACCOUNTS__ARGON2_TIME_COST": "1",
    "TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB": "8",
    "TORBIT_ACCOUNTS__ARGON2_PARALLELISM": "1",
}


class NodeProcess:
    """`torbit serve` in a subprocess, configured by environment variables like any node.
    Each start picks new ports unless `keep_ports` (a balancer in front knows them); the data
    directory (logs only: the data is in PostgreSQL and the broker) stays."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.env = env
        self.telnet_port: int | None = None
        self.http_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_within: float = 30.0, keep_ports: bool = False) -> None:
        if not (keep_ports and self.telnet_port and self.http_port):
            self.telnet_port, self.http_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
        env.update(_CHEAP_ARGON2)
        env.update(
            {
                "TORBIT_TELNET__PORT": str(self.telnet_port),
                "TORBIT_HTTP__PORT": str(self.http_port),
                "TORBIT_IRC__PORT": "0",
                "TORBIT_LOG__DIR": str(self.workdir / "logs"),
                "TORBIT_LIMITS__MESSAGE_RATE": "0",
                "TORBIT_LIMITS__ROOM_MESSAGE_RATE": "0",
                "TORBIT_LIMITS__READ_RATE": "0",  # the checks read back everything sent
                # every client comes from one address, many log in at once
                "TORBIT_LIMITS__REGISTRATIONS_PER_ADDRESS": "0",
                "TORBIT_LIMITS__REGISTRATIONS_PER_HOUR": "0",
                "TORBIT_ACCOUNTS__HASH_QUEUE": "100000",
                "TORBIT_LIMITS__CONNECTIONS_PER_IP": "0",
                "TORBIT_LIMITS__CONNECTION_RATE": "0",
                **self.env,
            }
        )
        self._proc = serve(self.workdir, env, self.http_port, ready_within)

    def kill(self) -> None:
        """SIGKILL: no goodbyes, no flushing, as in a crash or a pulled plug."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def send_signal(self, sig: int) -> None:
        """SIGSTOP, SIGCONT...: to the node's process while it runs."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def terminate(self) -> None:
        """SIGTERM: the node drains (node.drain_seconds), then stops."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def wait(self, within: float) -> int:
        assert self._proc is not None
        return self._proc.wait(within)

    def output(self, everything: bool = False) -> str:
        path = self.workdir / "output.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return text if everything else text[-4000:]


__all__ = ["NodeProcess", "PrivatePostgres"]
