"""Starting and stopping the servers under test, each a fresh subprocess on a free port in its
own temporary directory, so one measurement never sees another's database, users or heap:
the bare reference server, torbit, and InspIRCd (Debian's package, installed on first use,
configured by peers/inspircd.conf)."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from procstat import free_port

if TYPE_CHECKING:
    from torbit.core.argon2id import Argon2id

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"


class ServerError(Exception):
    """The server did not come up, or died; the message carries the end of its output."""


class Server:
    """One running server process: `kind` is "reference", "torbit" or "inspircd". `port` is its
    main door; `ports` has one per dialect it speaks ("telnet", "irc")."""

    def __init__(
        self,
        kind: str,
        proc: subprocess.Popen[bytes],
        port: int,
        workdir: Path,
        output: Path,
        clean_exit: frozenset[int] = frozenset({0}),
    ) -> None:
        self.kind = kind
        self.proc = proc
        self.port = port
        self.ports: dict[str, int] = {}
        self.workdir = workdir
        self.output = output
        self.clean_exit = clean_exit  # exit codes of a graceful stop

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


def add_src_option(ap: argparse.ArgumentParser) -> None:
    """`--src DIR`: run another tree's torbit, for before and after (see `torbit_from`)."""
    ap.add_argument("--src", default="", help="run torbit from this src directory")


def torbit_from(src: str, env: dict[str, str]) -> list[str] | None:
    """The command running torbit from the tree at `src` (its PYTHONPATH put in `env`), or
    None, for start_torbit's default (this venv's) when `src` is empty."""
    if not src:
        return None
    env["PYTHONPATH"] = src
    return [sys.executable, "-m", "torbit", "serve"]


ARGON2_CHEAP = (1, 8192, 1)  # time cost, memory KiB, lanes: ~4.5 ms a hash here


def torbit_hasher(argon2: tuple[int, int, int] | None) -> Argon2id:
    """torbit's own password hasher (core/argon2id.py) at that cost, or at torbit's defaults
    (None), through the library the server would choose (`argon2_engine`, "auto": the
    cheaper here): what "argon2 alone" is measured with."""
    from torbit.config import AccountsConfig
    from torbit.core.argon2id import Argon2id

    a = AccountsConfig()
    cost = argon2 or (a.argon2_time_cost, a.argon2_memory_kib, a.argon2_parallelism)
    return Argon2id(*cost, a.argon2_engine)


def torbit_env(
    workdir: Path,
    port: int,
    login_timeout: float,
    argon2: tuple[int, int, int] | None = ARGON2_CHEAP,
) -> dict[str, str]:
    """Telnet only, SQLite in the temp dir, cheap password hashing (`argon2`; None: torbit's
    defaults), and the abuse limits off: every bench user comes from 127.0.0.1 and sends far
    faster than a person."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
    env.update(
        {
            "TORBIT_TELNET__HOST": HOST,
            "TORBIT_TELNET__PORT": str(port),
            "TORBIT_TELNET__LOGIN_TIMEOUT": str(login_timeout),
            "TORBIT_IRC__REGISTRATION_TIMEOUT": str(login_timeout),  # when a target opens it
            "TORBIT_HTTP__ENABLED": "false",
            "TORBIT_IRC__ENABLED": "false",
            "TORBIT_STORAGE__URL": f"sqlite:///{workdir / 'torbit.db'}",
            "TORBIT_LOG__DIR": str(workdir / "logs"),
            "TORBIT_CHAT__HISTORY_ON_JOIN": "0",
            "TORBIT_LIMITS__CONNECTIONS_PER_IP": "0",
            "TORBIT_LIMITS__MAX_CONNECTIONS": "0",
            "TORBIT_LIMITS__CONNECTION_RATE": "0",  # every bench client connects from 127.0.0.1
            "TORBIT_LIMITS__MESSAGE_RATE": "0",
            "TORBIT_LIMITS__ROOM_MESSAGE_RATE": "0",
            "TORBIT_LIMITS__IRC_COMMAND_RATE": "0",  # one IRC sender sends 100+ lines a second
            "TORBIT_LIMITS__IRC_FLOOD_LINES": "0",
            # a bench sender sends far more bytes a second than a person (limits.input_rate)
            "TORBIT_LIMITS__INPUT_RATE": "0",
            "TORBIT_LIMITS__LOGIN_INPUT_RATE": "0",
            # every client comes from one address, many log in at once
            "TORBIT_LIMITS__REGISTRATIONS_PER_ADDRESS": "0",
            "TORBIT_LIMITS__REGISTRATIONS_PER_HOUR": "0",
            "TORBIT_LIMITS__LOGIN_ADDRESS_FREE_ATTEMPTS": "0",  # every bench user is 127.0.0.1
            "TORBIT_ACCOUNTS__HASH_QUEUE": "100000",
        }
    )
    if argon2 is not None:
        env.update(
            zip(
                (
                    "TORBIT_ACCOUNTS__ARGON2_TIME_COST",
                    "TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB",
                    "TORBIT_ACCOUNTS__ARGON2_PARALLELISM",
                ),
                map(str, argon2),
                strict=True,
            )
        )
    return env


def _spawn(
    cmd: list[str], workdir: Path, env: dict[str, str] | None, stdout: int | IO[bytes] | None
) -> tuple[subprocess.Popen[bytes], Path]:
    """stdout None: into server.log with stderr."""
    output = workdir / "server.log"
    with output.open("wb") as err:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=err if stdout is None else stdout,
            stderr=err,
        )
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
    server.port = server.ports["telnet"] = int(first[1])
    return server


Doors = dict[str, str]  # dialect -> the config section of the door that speaks it ("IRC")


def start_torbit(
    command: list[str] | None = None,
    ready_within: float = 60.0,
    login_timeout: float = 60.0,
    env: dict[str, str] | None = None,
    argon2: tuple[int, int, int] | None = ARGON2_CHEAP,
    doors: Doors | None = None,
) -> Server:
    """`env` is laid over the bench settings (e.g. another storage or bus URL). `doors` opens
    more front doors than telnet, each on a free loopback port: {"irc": "IRC"} sets
    TORBIT_IRC__ENABLED, __HOST and __PORT."""
    workdir = Path(tempfile.mkdtemp(prefix="torbit-bench-"))
    port = free_port()
    ports = {dialect: free_port() for dialect in doors or {}}
    full_env = torbit_env(workdir, port, login_timeout, argon2)
    for dialect, section in (doors or {}).items():
        full_env.update(
            {
                f"TORBIT_{section}__ENABLED": "true",
                f"TORBIT_{section}__HOST": HOST,
                f"TORBIT_{section}__PORT": str(ports[dialect]),
            }
        )
    proc, output = _spawn(
        command or torbit_command(), workdir, {**full_env, **(env or {})}, subprocess.DEVNULL
    )
    server = Server("torbit", proc, port, workdir, output)
    server.ports = {"telnet": port, **ports}
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
                raise ServerError(
                    f"{server.kind} not listening on {server.port} after "
                    f"{within:g} s:\n{server.tail()}"
                ) from None
            time.sleep(0.1)


INSPIRCD_CONF = BENCH_DIR / "peers" / "inspircd.conf"


def inspircd_binary(install: bool = True) -> str:
    """The inspircd executable; Debian's package is installed with apt-get when it is missing
    (with sudo when not root). On a machine with systemd the package starts its own service on
    port 6667: the bench never uses it (`systemctl disable --now inspircd` to be rid of it)."""
    found = shutil.which("inspircd") or shutil.which("inspircd", path="/usr/sbin:/usr/bin")
    if found or not install:
        if found:
            return found
        raise ServerError("inspircd is not installed (apt-get install inspircd)")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    get = [*sudo, "apt-get", "install", "-y", "-q", "inspircd"]
    done = subprocess.run(get, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # perhaps stale package lists
        subprocess.run(
            [*sudo, "apt-get", "update", "-q"], env=env, capture_output=True, check=False
        )
        done = subprocess.run(get, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServerError(f"apt-get install inspircd failed:\n{done.stderr[-2000:]}")
    return inspircd_binary(install=False)


def start_inspircd(ready_within: float = 30.0, login_timeout: float = 60.0) -> Server:
    """InspIRCd in the foreground (--nofork) with peers/inspircd.conf; the port, directory,
    registration timeout and connection limit come in through the environment."""
    exe = inspircd_binary()
    workdir = Path(tempfile.mkdtemp(prefix="torbit-bench-irc-"))
    port = free_port()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    env = {
        **os.environ,
        "BENCH_IRC_PORT": str(port),
        "BENCH_IRC_DIR": str(workdir),
        "BENCH_IRC_TIMEOUT": str(max(int(login_timeout), 1)),
        "BENCH_IRC_MAXCONN": str(hard),
    }
    cmd = [exe, "--config", str(INSPIRCD_CONF), "--nofork", "--nopid"]
    if os.geteuid() == 0:
        cmd.append("--runasroot")  # it refuses root otherwise; containers often are root
    proc, output = _spawn(cmd, workdir, env, None)
    # InspIRCd exits with 10 ("received SIGTERM") after a graceful stop
    server = Server("inspircd", proc, port, workdir, output, clean_exit=frozenset({0, 10}))
    server.ports = {"irc": port}
    try:
        wait_for_port(server, ready_within)
    except ServerError:
        server.stop()
        raise
    return server


def start(
    kind: str,
    torbit_cmd: list[str] | None = None,
    login_timeout: float = 60.0,
    argon2: tuple[int, int, int] | None = ARGON2_CHEAP,
    doors: Doors | None = None,
) -> Server:
    if kind == "reference":
        return start_reference()
    if kind == "torbit":
        return start_torbit(torbit_cmd, login_timeout=login_timeout, argon2=argon2, doors=doors)
    if kind == "inspircd":
        return start_inspircd(login_timeout=login_timeout)
    raise ValueError(f"unknown server kind {kind!r}")
