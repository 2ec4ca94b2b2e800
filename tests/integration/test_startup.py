"""Finding the data and starting up, as separate processes in a directory of their own: serve
and the CLI read the same config, say which database they use, read-only commands create no
database, and a start that fails says why in one line and leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.conftest import CHEAP_ARGON2
from tests.helpers.disk import fill, small_disk
from torbit.testing.ports import free_port

TORBIT = [sys.executable, "-m", "torbit"]


@pytest.fixture
def env() -> dict[str, str]:
    """No storage or log overrides: the defaults are relative to the working directory. Free
    ports for every door on by default: a server the README's first command started may hold
    the default ones while the tests run."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
    e.update(
        TORBIT_TELNET__PORT=str(free_port()),
        TORBIT_HTTP__PORT=str(free_port()),
        TORBIT_IRC__PORT=str(free_port()),
        **{f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()},
    )
    return e


def run(
    cwd: Path, env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TORBIT, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def one_line_failure(r: subprocess.CompletedProcess[str], *words: str) -> None:
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("torbit: "), r.stderr
    assert "Traceback" not in r.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_read_only_commands_create_no_database(tmp_path: Path, env: dict[str, str]) -> None:
    for args in (["user", "list"], ["room", "list"], ["user", "set-admin", "x"]):
        r = run(tmp_path, env, *args)
        one_line_failure(r, "no database at torbit-data/torbit.db")
    assert list(tmp_path.iterdir()) == []


def test_every_command_reads_the_same_config_and_says_which_database(
    tmp_path: Path, env: dict[str, str]
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    (here / "torbit.toml").write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/a.db"\n')
    other = tmp_path / "b.toml"
    other.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/b.db"\n')

    r = run(here, env, "user", "add", "ann", "--password-stdin", stdin="ann-secret-1\n")
    assert r.returncode == 0, r
    assert f"database sqlite:///{tmp_path}/a.db, config torbit.toml" in r.stderr
    assert (tmp_path / "a.db").exists() and not (here / "torbit-data").exists()

    r = run(here, env, "user", "list", "--config", str(other))  # --config wins
    one_line_failure(r, f"no database at {tmp_path}/b.db")
    r = run(tmp_path, dict(env, TORBIT_CONFIG=str(here / "torbit.toml")), "user", "list")
    assert r.returncode == 0 and r.stdout.startswith("ann  registered"), r
    assert f"database sqlite:///{tmp_path}/a.db, config {here}/torbit.toml" in r.stderr
    r = run(here, dict(env, TORBIT_CONFIG=str(other)), "user", "list")  # before ./torbit.toml
    one_line_failure(r, "b.db")


@contextlib.contextmanager
def serving(cwd: Path, env: dict[str, str]) -> Iterator[list[str]]:
    """`torbit serve` until its banner is out; yields the banner lines so far."""
    p = subprocess.Popen([*TORBIT, "serve"], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    assert p.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while not any("API docs" in ln for ln in lines):
            line = p.stderr.readline()
            assert line and time.monotonic() < deadline, f"no banner: {lines}"
            lines.append(line.rstrip("\n"))
        yield lines
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)


def test_start_up_banner_lists_addresses_to_open(tmp_path: Path, env: dict[str, str]) -> None:
    telnet, http = env["TORBIT_TELNET__PORT"], env["TORBIT_HTTP__PORT"]
    with serving(tmp_path, env) as lines:
        text = "\n".join(lines)
    assert "database sqlite:///torbit-data/torbit.db" in text
    assert "built-in defaults" in text
    assert f"telnet://127.0.0.1:{telnet}" in text
    assert f"http://127.0.0.1:{http}/\n" in text + "\n" or f"http://127.0.0.1:{http}/ " in text
    assert f"http://127.0.0.1:{http}/docs" in text
    assert "telnets://" not in text and "None" not in text
    # a newcomer asked where the logs and the transcript go, and how to stop it
    [logs] = [line for line in lines if "  logs  " in line]
    assert logs.endswith(
        "  logs      torbit-data/logs/torbit.log and transcript.log (every room message);"
        " Ctrl-C stops it"
    ), lines


def test_a_busy_port_fails_in_one_line_and_creates_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = run(tmp_path, dict(env, TORBIT_HTTP__PORT=str(busy.getsockname()[1])), "serve")
    one_line_failure(r, "config key http.port:", "Address already in use", "TORBIT_HTTP__PORT=")
    assert list(tmp_path.iterdir()) == []


def test_every_busy_port_is_named_at_once(tmp_path: Path, env: dict[str, str]) -> None:
    """A newcomer whose default ports were all held (another torbit, say) was told of the
    telnet port, moved it, and was then told of the HTTP port, then of the IRC one."""
    with contextlib.ExitStack() as stack:
        busy = {}
        for door in ("telnet", "http", "irc"):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            busy[f"TORBIT_{door.upper()}__PORT"] = str(sock.getsockname()[1])
        r = run(tmp_path, dict(env, **busy), "serve")
    words = [f"config key {door}.port: cannot listen" for door in ("telnet", "http", "irc")]
    one_line_failure(r, *words, *(f"{variable}=PORT" for variable in busy))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("door", ["telnet", "irc"])
def test_a_busy_tls_port_names_its_real_key_and_how_to_change_it(
    tmp_path: Path, env: dict[str, str], door: str
) -> None:
    """A newcomer's second server, with TLS, hit a port the first one held and was told
    `config key telnet.tls.port`, a key that does not exist (it is `telnet.tls_port`), and
    not how to pick another port."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    section = door.upper()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        e = dict(
            env,
            **{
                f"TORBIT_{section}__TLS_CERT": str(tmp_path / "cert.pem"),
                f"TORBIT_{section}__TLS_KEY": str(tmp_path / "key.pem"),
                f"TORBIT_{section}__TLS_PORT": str(busy.getsockname()[1]),
            },
        )
        r = run(tmp_path, e, "serve")
    one_line_failure(
        r, f"config key {door}.tls_port:", "Address already in use", f"TORBIT_{section}__TLS_PORT="
    )


def test_a_database_that_is_not_one_fails_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "torbit-data").mkdir()
    (tmp_path / "torbit-data" / "torbit.db").write_bytes(b"not a database\n" * 100)
    r = run(tmp_path, env, "serve")
    one_line_failure(r, "cannot start", "not a database")


def test_a_database_from_a_newer_torbit_fails_in_one_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    r = run(tmp_path, env, "user", "add", "ann", "--password-stdin", stdin="ann-secret-1\n")
    assert r.returncode == 0, r
    with sqlite3.connect(tmp_path / "torbit-data" / "torbit.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    r = run(tmp_path, env, "serve")
    one_line_failure(r, "cannot start", "9999_from_the_future", "newer torbit")


def test_a_missing_certificate_fails_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    e = dict(
        env,
        TORBIT_TELNET__TLS_CERT=str(tmp_path / "no-cert.pem"),
        TORBIT_TELNET__TLS_KEY=str(tmp_path / "no-key.pem"),
        TORBIT_TELNET__TLS_PORT=str(free_port()),
    )
    r = run(tmp_path, e, "serve")
    one_line_failure(r, "no-cert.pem")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk", "256k") as disk:
        fill(disk)
        yield disk


def test_starting_on_a_full_disk_fails_in_one_line(full_disk: Path, env: dict[str, str]) -> None:
    r = run(full_disk.parent, env, "serve", "--config", str(full_disk.parent / "c.toml"))
    assert r.returncode == 2  # no such config file yet: the same one line
    (full_disk.parent / "c.toml").write_text(
        f'[storage]\nurl = "sqlite:///{full_disk}/data/torbit.db"\n'
        f'[log]\ndir = "{full_disk.parent}/logs"\n'
    )
    r = run(full_disk.parent, env, "serve", "--config", str(full_disk.parent / "c.toml"))
    one_line_failure(r, "cannot start")
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]
    assert not (full_disk.parent / "logs").exists()
