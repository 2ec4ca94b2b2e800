"""Starting and stopping the servers under test, each a fresh subprocess on a free port in its
own temporary directory, so one measurement never sees another's database, users or heap."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from procstat import free_port

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"


class ServerError(Exception):
    """The server did not come up, or died; the message carries the end of its output."""


class Server:
    """One running server process: `kind` is "reference" or "torbit"."""

    def __init__(self, kind: str, proc: subprocess.Popen[bytes], port: int, workdir: Path,
                 output: Path) -> None:
        self.kind = kind
        self.proc = proc
        self.port = port
        self.workdir = workdir
        self.output = output

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 30) -> str:
        """The last lines of what the server printed: for error messages."""
        try:
            text = self.output.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise ServerError(f"{self.kind} exited with {self.proc.returncode}:\n{self.tail()}")

    def stop(self, grace: float = 60.0) -> int:
        """SIGTERM, wait for a graceful exit, SIGKILL after `grace` seconds. Returns the exit code
        (torbit exits 0 after a graceful shutdown)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def cleanup(self, keep: bool = False) -> None:
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def torbit_command() -> list[str]:
    """`torbit serve` from the venv the benchmark runs in."""
    exe = Path(sys.executable).parent / "torbit"
    if exe.exists():
        return [str(exe), "serve"]
    return [sys.executable, "-m", "torbit", "serve"]


def torbit_env(workdir: Path, port: int, login_timeout: float) -> dict[str, str]:
    """Telnet only, SQLite in the temp dir, cheap password hashing (registering 10,000 bench
    users should measure the front door, not argon2), and the abuse limits off: every bench user
    comes from 127.0.0.1 and sends far faster than a person."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
    env.update({
        "TORBIT_TELNET__HOST": HOST,
        "TORBIT_TELNET__PORT": str(port),
        "TORBIT_TELNET__LOGIN_TIMEOUT": str(login_timeout),
        "TORBIT_HTTP__ENABLED": "false",
        "TORBIT_IRC__ENABLED": "false",
        "TORBIT_STORAGE__URL": f"sqlite:///{workdir / 'torbit.db'}",
        "TORBIT_LOG__DIR": str(workdir / "logs"),
        "TORBIT_ACCOUNTS__ARGON2_TIME_COST": "1",
        "TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB": "8",
        "TORBIT_ACCOUNTS__ARGON2_PARALLELISM": "1",
        "TORBIT_CHAT__HISTORY_ON_JOIN": "0",
        "TORBIT_LIMITS__CONNECTIONS_PER_IP": "0",
        "TORBIT_LIMITS__MAX_CONNECTIONS": "0",
        "TORBIT_LIMITS__MESSAGE_RATE": "0",
        "TORBIT_LIMITS__ROOM_MESSAGE_RATE": "0",
    })
    return env


def _spawn(cmd: list[str], workdir: Path, env: dict[str, str] | None,
           stdout: int | IO[bytes]) -> tuple[subprocess.Popen[bytes], Path]:
    output = workdir / "server.log"
    with output.open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=err)
    return proc, output


def start_reference() -> Server:
    workdir = Path(tempfile.mkdtemp(prefix="torbit-bench-ref-"))
    cmd = [sys.executable, str(BENCH_DIR / "reference_server.py"), "--port", "0"]
    proc, output = _spawn(cmd, workdir, None, subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline().decode().split()  # "LISTENING <port>", or EOF if it died
    proc.stdout.close()
    server = Server("reference", proc, 0, workdir, output)
    if len(first) != 2 or first[0] != "LISTENING":
        server.stop()
        raise ServerError(f"reference server did not start:\n{server.tail()}")
    server.port = int(first[1])
    return server


def start_torbit(command: list[str] | None = None, ready_within: float = 60.0,
                 login_timeout: float = 60.0, env: dict[str, str] | None = None) -> Server:
    """`env` is laid over the bench settings (e.g. another storage or bus URL)."""
    workdir = Path(tempfile.mkdtemp(prefix="torbit-bench-"))
    port = free_port()
    proc, output = _spawn(command or torbit_command(), workdir,
                          {**torbit_env(workdir, port, login_timeout), **(env or {})},
                          subprocess.DEVNULL)
    server = Server("torbit", proc, port, workdir, output)
    try:
        wait_for_port(server, ready_within)
    except ServerError:
        server.stop()
        raise
    return server


def wait_for_port(server: Server, within: float) -> None:
    """Until the telnet port accepts a connection (the probe connection is closed at once)."""
    deadline = time.monotonic() + within
    while True:
        server.check_alive()
        try:
            socket.create_connection((HOST, server.port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ServerError(f"{server.kind} not listening on {server.port} after "
                                  f"{within:g} s:\n{server.tail()}") from None
            time.sleep(0.1)


def start(kind: str, torbit_cmd: list[str] | None = None, login_timeout: float = 60.0) -> Server:
    if kind == "reference":
        return start_reference()
    if kind == "torbit":
        return start_torbit(torbit_cmd, login_timeout=login_timeout)
    raise ValueError(f"unknown server kind {kind!r}")
