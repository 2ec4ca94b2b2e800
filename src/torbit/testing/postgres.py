"""A throw-away PostgreSQL server for tests and benchmarks: `initdb` into a temporary
directory and `pg_ctl start` on a free loopback port with trust auth, so no test depends on
(or changes) the machine's own cluster or its passwords."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psutil

from torbit.testing.freeze import freeze
from torbit.testing.ports import free_port


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries: ./run-tests installs them (apt-get install postgresql)."""


def postgres_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
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
        bindir = postgres_bindir()
        if bindir is None:
            raise PostgresMissing(
                "no PostgreSQL server binaries (initdb): "
                "apt-get install postgresql (./run-tests does)"
            )
        root = Path(tempfile.mkdtemp(prefix="torbit-pg-"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresMissing("running as root without runuser: cannot start PostgreSQL")
            shutil.chown(root, "postgres", "postgres")
            as_user = [runuser, "-u", "postgres", "--"]
        pg = cls(bindir, root, free_port(), as_user)
        pg._run(
            "initdb",
            "-D",
            str(root / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = (
            f"-p {pg.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off"
        )
        pg._run(
            "pg_ctl",
            "-D",
            str(root / "data"),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        return pg

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, str(self._bindir / tool), *args],
            capture_output=True,
            text=True,
            check=False,
        )
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
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                freeze(p.pid)

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
