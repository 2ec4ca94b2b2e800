"""One Kafka node of a test cluster (kafka.py): a broker+controller process on free loopback
ports that stay its own across restarts, launched, signalled, killed or stopped cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from torbit.testing.freeze import freeze
from torbit.testing.ports import free_port


class KafkaFailed(RuntimeError):
    """A node exited, could not be formatted, or the cluster did not become ready in time."""


class KafkaNode:
    """One broker+controller process: its ports and data stay the same across restarts."""

    def __init__(self, node_id: int, home: Path) -> None:
        self.node_id = node_id
        self.home = home
        self.port = free_port()
        self.controller_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = False  # by kill() or stop(), not by itself

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise KafkaFailed(f"node {self.node_id} was never started")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def exit_code(self) -> int | None:
        """How the node ended by itself: None while running, never started, or stopped."""
        if self._process is None or self._stopped:
            return None
        return self._process.poll()

    def output(self, tail: int = 6000) -> str:
        """The end of what the node logged (for failure messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def launch(self, command: list[str]) -> None:
        self._stopped = False
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [*command, str(self.config)],
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    def signal(self, signum: int) -> None:
        if self.running:
            os.kill(self.pid, signum)

    def freeze(self) -> None:
        """SIGSTOP, returning once every thread is stopped."""
        if self.running:
            freeze(self.pid)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush, as in a crash."""
        self._stopped = True
        if self._process is not None:
            if self.running:
                self._process.kill()
            self._process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """A clean shutdown (SIGTERM), then SIGKILL if it takes too long."""
        self._stopped = True
        if self._process is None:
            return
        if self.running:
            self.signal(signal.SIGCONT)  # a frozen JVM would not act on SIGTERM
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._process.wait()
