"""Processes the outage tests start themselves: a torbit node as a subprocess (so it can be
killed outright and started again) and a PostgreSQL server of their own (so it can be frozen
without touching the machine's server on 5432, which other tests use)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from torbit.testing.tansu import free_port

_CHEAP_ARGON2 = {
    "TORBIT_ACCOUNTS__ARGON2_TIME_COST": "1",
    "TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB": "8",
    "TORBIT_ACCOUNTS__ARGON2_PARALLELISM": "1",
}


class NodeProcess:
    """`torbit serve` in a subprocess, configured by environment variables like any node.
    Each start picks new ports; the data directory (logs only: the data is in PostgreSQL and
    the broker) stays."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.env = env
        self.telnet_port: int | None = None
        self.http_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_within: float = 30.0) -> None:
        self.telnet_port, self.http_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
        env.update(_CHEAP_ARGON2)
        env.update({
            "TORBIT_TELNET__PORT": str(self.telnet_port),
            "TORBIT_HTTP__PORT": str(self.http_port),
            "TORBIT_LOG__DIR": str(self.workdir / "logs"),
            "TORBIT_LIMITS__MESSAGE_RATE": "0",
            "TORBIT_LIMITS__ROOM_MESSAGE_RATE": "0",
            "TORBIT_LIMITS__CONNECTIONS_PER_IP": "0",
            **self.env,
        })
        self.workdir.mkdir(parents=True, exist_ok=True)
        exe = Path(sys.executable).parent / "torbit"
        with (self.workdir / "output.log").open("ab") as out:
            self._proc = subprocess.Popen([str(exe), "serve"], cwd=self.workdir, env=env,
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        deadline = time.monotonic() + ready_within
        while True:
            if self._proc.poll() is not None:
                raise AssertionError(f"torbit exited with {self._proc.returncode}:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2).is_success:
                    return
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"torbit not ready within {ready_within}s:\n{self.output()}")
            time.sleep(0.1)

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

    def output(self) -> str:
        path = self.workdir / "output.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _postgres_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                               check=False).stdout.strip()
        if found and (Path(found) / "initdb").exists():
            return Path(found)
    for initdb in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True):
        return initdb.parent
    return None


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temp dir on a free port (trust auth, no fsync),
    run as the `postgres` user when we are root (PostgreSQL refuses to run as root)."""

    def __init__(self, bindir: Path, root: Path, port: int, as_user: list[str]) -> None:
        self._bindir = bindir
        self.root = root
        self.port = port
        self._as = as_user
        self._paused: list[psutil.Process] = []

    @classmethod
    def start(cls) -> PrivatePostgres:
        bindir = _postgres_bindir()
        if bindir is None:
            pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
        root = Path(tempfile.mkdtemp(prefix="torbit-pg-"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: cannot start a PostgreSQL server")
            shutil.chown(root, "postgres", "postgres")
            as_user = [runuser, "-u", "postgres", "--"]
        pg = cls(bindir, root, free_port(), as_user)
        pg._run("initdb", "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                "--no-sync", "-E", "UTF8")
        options = (f"-p {pg.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off")
        pg._run("pg_ctl", "-D", str(root / "data"), "-l", str(root / "server.log"),
                "-o", options, "-w", "-t", "30", "start")
        return pg

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self._bindir / tool), *args],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{tool} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _processes(self) -> list[psutil.Process]:
        pid_file = self.root / "data" / "postmaster.pid"
        postmaster = psutil.Process(int(pid_file.read_text().split()[0]))
        return [postmaster, *postmaster.children(recursive=True)]

    def pause(self) -> None:
        """SIGSTOP the server and every backend: connections stay open, nothing answers."""
        self._paused = self._processes()
        for p in self._paused:
            p.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for p in self._paused:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGCONT)
        self._paused = []

    def stop(self) -> None:
        self.resume()
        with contextlib.suppress(AssertionError):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
