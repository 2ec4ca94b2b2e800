"""The `torbit` command as a separate process: admin CLI, config errors, signals, kill -9."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CHEAP_ARGON2
from tests.helpers.cli import cli
from torbit.backends.registry import open_log, open_store
from torbit.testing.ports import free_port

TORBIT = [sys.executable, "-m", "torbit"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update(
        TORBIT_STORAGE__URL=f"sqlite:///{tmp_path}/torbit.db",
        TORBIT_LOG__DIR=str(tmp_path / "logs"),
        TORBIT_TELNET__PORT=str(free_port()),
        TORBIT_HTTP__PORT=str(free_port()),
        TORBIT_IRC__PORT="0",
        TORBIT_LIMITS__MESSAGE_RATE="0",
        TORBIT_LIMITS__ROOM_MESSAGE_RATE="0",
        **{f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()},
    )
    return e


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TORBIT, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_user_admin_commands(env: dict[str, str]) -> None:
    """Two commands as real processes (a password piped to stdin, exit 0 and stdout; a refusal,
    exit 1 and stderr), the rest in this process over the same database (tests/helpers/cli.py):
    each new interpreter cost a second."""
    r = run(env, "user", "add", "Alice", "--password-stdin", stdin="pass-word-1\n")
    assert r.returncode == 0, r.stderr
    assert "added user Alice" in r.stdout
    r = run(env, "user", "add", "alice", "--password-stdin", stdin="another-pw\n")
    assert r.returncode == 1 and "taken" in r.stderr.lower()
    r = cli(env, "user", "add", "bad name", "--password-stdin", stdin="pass-word-1\n")
    assert r.returncode == 1 and "invalid user name" in r.stderr
    assert cli(env, "user", "add", "bob", "--password-stdin", stdin="pw-2-pw-2\n").returncode == 0
    r = cli(env, "user", "list")
    assert re.search(r"^Alice ", r.stdout, re.M) and re.search(r"^bob ", r.stdout, re.M)
    assert cli(env, "user", "passwd", "bob", "--password-stdin", stdin="new-pw\n").returncode == 0
    assert cli(env, "user", "set-admin", "bob").returncode == 0
    assert "(admin)" in cli(env, "user", "list").stdout
    assert cli(env, "room", "add", "Bobs-Den", "--owner", "bob").returncode == 0
    r = cli(env, "user", "del", "bob", "--yes")
    assert r.returncode == 0
    # the room as bob named it, not its key (#bobs-den)
    assert "deleted room #Bobs-Den (no one else was in it)" in r.stdout.splitlines()
    assert "bob" not in cli(env, "user", "list").stdout
    r = cli(env, "user", "del", "bob", "--yes")
    assert r.returncode == 1 and "no such user" in r.stderr
    assert cli(env, "room", "list").stdout.strip() == "no rooms"
    assert cli(env, "db", "upgrade").returncode == 0


def test_db_status_says_whether_an_upgrade_is_needed(env: dict[str, str], tmp_path: Path) -> None:
    """`torbit db status` (named in migrate.py's docstring, missing from the CLI on main: "No
    such command 'status'", exit 2): the schema's revision against this torbit's, changing
    nothing; exit 0 only when up to date, so a rollout script can ask before it upgrades."""
    import sqlite3

    from torbit.backends.store.migrate import head_revision

    head = head_revision()
    r = run(env, "db", "status")
    assert r.returncode == 2 and "no database at" in r.stderr  # never creates one
    assert cli(env, "db", "upgrade").returncode == 0  # the rest in this process
    r = cli(env, "db", "status")
    assert (r.returncode, r.stdout.strip()) == (0, f"schema {head}: up to date")
    for revision, said in (
        ("0001", f"schema 0001, this torbit's is {head}: run torbit db upgrade"),
        ("9999_from_the_future", "schema 9999_from_the_future is unknown to torbit"),
    ):
        with sqlite3.connect(tmp_path / "torbit.db") as db:
            db.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        r = cli(env, "db", "status")
        assert r.returncode == 1 and r.stdout.startswith(said), r.stdout
    with sqlite3.connect(tmp_path / "torbit.db") as db:
        db.execute("DELETE FROM alembic_version")
    r = cli(env, "db", "status")
    assert (r.returncode, r.stdout.strip()) == (
        1,
        f"no schema yet (this torbit's is {head}): run torbit db upgrade",
    )


def test_exit_codes_follow_one_rule_across_commands(env: dict[str, str]) -> None:
    """0 done, 1 answered no, 2 cannot tell (docs/operations.md): on stage only `db status`
    said 2 for an unreachable store; `user list`, `user add` and `room add` said 1, as if
    the store had refused, so a script could not tell an outage from a no."""
    assert cli(env, "user", "add", "ann", "--password-stdin", stdin="pw-1-pw-1\n").returncode == 0
    r = cli(env, "user", "add", "ann", "--password-stdin", stdin="pw-1-pw-1\n")
    assert r.returncode == 1 and "taken" in r.stderr.lower()  # answered no
    assert cli(env, "user", "del", "nobody", "--yes").returncode == 1
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        down = {**env, "TORBIT_STORAGE__URL": f"postgresql://torbit:x@127.0.0.1:{port}/torbit"}
        for args in (
            ("db", "status"),
            ("user", "list"),
            ("room", "add", "den"),
            ("user", "set-admin", "ann"),
        ):
            r = cli(down, *args)
            assert r.returncode == 2, (args, r.returncode, r.stderr)
            assert "unavailable" in r.stderr.lower() or "cannot" in r.stderr.lower(), r.stderr
    bad = {**env, "TORBIT_CHAT__HISTORY_ON_JOIN": "-1"}
    assert cli(bad, "user", "list").returncode == 2  # a config error: no answer asked


def test_bad_config_stops_with_one_clear_line_and_exit_2(
    env: dict[str, str], tmp_path: Path
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[telnet]\nport = 5000\nprot = 1\n")
    r = run(env, "serve", "--config", str(cfg))
    assert r.returncode == 2
    assert "unknown config key telnet.prot (did you mean telnet.port?)" in r.stderr
    cfg.write_text('[chat]\nhistory_on_join = "many"\n')
    r = run(env, "serve", "--config", str(cfg))
    assert r.returncode == 2 and "chat.history_on_join" in r.stderr
    env2 = dict(env, TORBIT_TELNET__PORT="not-a-port")
    r = run(env2, "serve")
    assert r.returncode == 2 and "telnet.port" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        env3 = dict(env, TORBIT_TELNET__PORT=str(busy.getsockname()[1]))
        r = run(env3, "serve")
    assert r.returncode == 2 and "telnet.port" in r.stderr and "cannot listen" in r.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a log dir below a regular file cannot be created, even by root
    env4 = dict(env, TORBIT_LOG__DIR=str(blocker / "logs"))
    r = run(env4, "serve")
    assert r.returncode == 2 and "log.dir" in r.stderr and "not writable" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_sample_config_is_complete_and_valid(env: dict[str, str]) -> None:
    from torbit.config import Settings, load_settings

    sample = Path(__file__).parents[2] / "torbit.toml"
    settings = load_settings(sample)
    assert settings.model_dump() == Settings().model_dump()  # the sample documents the defaults
    text = sample.read_text()
    for section, model in Settings.model_fields.items():
        assert f"[{section}]" in text
        assert model.annotation is not None
        for key in model.annotation.model_fields:
            assert re.search(rf"^#? ?{key} =", text, re.M), (
                f"{section}.{key} missing from torbit.toml"
            )


def wait_for_ports(p: subprocess.Popen[str], *ports: int, within: float = 30) -> None:
    """Until `torbit serve` (p) accepts connections on every port; killed if it exits or
    does not get there within the time."""
    deadline = time.monotonic() + within
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or p.poll() is not None:
                    p.kill()
                    raise AssertionError(f"server did not start: {p.communicate()[1]}") from None
                time.sleep(0.1)


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    p = subprocess.Popen([*TORBIT, "serve"], env=env, stderr=subprocess.PIPE, text=True)
    wait_for_ports(p, int(env["TORBIT_TELNET__PORT"]))
    yield p
    if p.poll() is None:
        p.kill()
    p.wait()
    assert p.stderr is not None
    p.stderr.close()


def telnet_login(port: int, name: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")

    def until(text: bytes) -> bytes:
        buf = b""
        while text not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise EOFError(buf)
            buf += chunk
        return buf

    until(b"Name: ")
    s.sendall(name.encode() + b"\r\n")
    until(b"password: ")
    s.sendall(b"secret-pw\r\n")
    until(b"password: ")
    s.sendall(b"secret-pw\r\n")
    until(b"you are in #lobby")
    del f
    return s


def read_until(s: socket.socket, text: bytes) -> bytes:
    buf = b""
    while text not in buf:
        chunk = s.recv(4096)
        assert chunk, buf
        buf += chunk
    return buf


def test_sigterm_drains_and_exits_0(served: subprocess.Popen[str], env: dict[str, str]) -> None:
    with telnet_login(int(env["TORBIT_TELNET__PORT"]), "alice") as s:
        served.send_signal(signal.SIGTERM)
        read_until(s, b"this server is restarting: please reconnect")
        assert s.recv(4096) == b""  # closed once told, without waiting for drain_seconds
    assert served.wait(timeout=20) == 0
    assert served.stderr is not None
    assert "drained in" in served.stderr.read()


def test_sigint_shuts_down_gracefully_with_exit_0(
    served: subprocess.Popen[str], env: dict[str, str]
) -> None:
    with telnet_login(int(env["TORBIT_TELNET__PORT"]), "alice") as s:
        served.send_signal(signal.SIGINT)
        read_until(s, b"shutting down")
    assert served.wait(timeout=20) == 0


def test_node_drain_command(served: subprocess.Popen[str], env: dict[str, str]) -> None:
    """The command says when the node exits from the node's answer: on stage it printed its
    own config's node.drain_seconds (here 7), not the node's (the default, 30). It names on
    stderr the config it read, as every command does: run in a directory without the node's
    torbit.toml it drained whatever node had the default port there, and said nothing of it
    (first57)."""
    with telnet_login(int(env["TORBIT_TELNET__PORT"]), "alice") as s:
        r = run({**env, "TORBIT_NODE__DRAIN_SECONDS": "7"}, "node", "drain")
        assert r.returncode == 0, r.stderr
        assert r.stderr.startswith(f"torbit: database {env['TORBIT_STORAGE__URL']}, config "), (
            r.stderr
        )
        assert "draining the node at http://127.0.0.1:" in r.stdout
        assert r.stdout.rstrip().endswith("; it exits within 30 s"), r.stdout
        read_until(s, b"please reconnect")
    assert served.wait(timeout=20) == 0
    refused = run({**env, "TORBIT_HTTP__METRICS_TOKEN": "x" * 20}, "node", "drain")
    assert refused.returncode == 2 and "cannot reach the node" in refused.stderr  # no answer


def test_acknowledged_messages_survive_kill_9(
    served: subprocess.Popen[str], env: dict[str, str]
) -> None:
    port = int(env["TORBIT_TELNET__PORT"])
    with telnet_login(port, "alice") as s:
        acked = send_until_killed(s, served)
    assert acked == list(range(len(acked))) and len(acked) > 250

    stored = asyncio.run(history(env["TORBIT_STORAGE__URL"]))  # here: the server is dead
    assert stored[: len(acked)] == acked  # every acknowledged message, in order, exactly once
    assert stored == sorted(set(stored))


def send_until_killed(s: socket.socket, served: subprocess.Popen[str]) -> list[int]:
    """Send numbered messages, kill -9 the server mid-stream; the numbers echoed back (acked)."""
    s.settimeout(10)
    acked: list[int] = []
    buf = b""
    for i in range(300):
        s.sendall(f"durable {i}\r\n".encode())
        if i % 10 == 9:
            # collect echoes so far: an echo means the message was committed
            while True:
                chunk = s.recv(65536)
                buf += chunk
                acked = [int(x) for x in re.findall(rb"<alice> durable (\d+)\r\n", buf)]
                if acked and acked[-1] >= i - 5:
                    break
    served.send_signal(signal.SIGKILL)
    served.wait()
    try:
        while chunk := s.recv(65536):
            buf += chunk
    except OSError:
        pass
    return [int(x) for x in re.findall(rb"<alice> durable (\d+)\r\n", buf)]


async def history(url: str) -> list[int]:
    """The numbers of the #lobby messages the store kept, oldest first."""
    store = open_store(url, "full")
    await store.open()
    try:
        log = open_log("local", store, topic_prefix="t", replication_factor=1, retention_hours=24)
        await log.start(lambda m: None)
        try:
            return [int(m.text.split()[1]) for m in await log.read("lobby", limit=10000)]
        finally:
            await log.close()
    finally:
        await store.close()


def test_password_change_from_the_cli_revokes_tokens(env: dict[str, str]) -> None:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from torbit.backends.registry import open_store

    r = cli(env, "user", "add", "carol", "--password-stdin", stdin="first-password\n")
    assert r.returncode == 0, r.stderr

    async def token_owner(create: bool) -> str | None:
        store = open_store(env["TORBIT_STORAGE__URL"], "full")
        await store.open()
        try:
            now = datetime.now(UTC)
            if create:
                await store.create_token("f" * 64, "carol", now + timedelta(hours=1))
            return await store.token_user("f" * 64, now)
        finally:
            await store.close()

    assert asyncio.run(token_owner(create=True)) == "carol"
    r = run(env, "user", "passwd", "carol", "--password-stdin", stdin="second-password\n")
    assert r.returncode == 0, r.stderr
    assert asyncio.run(token_owner(create=False)) is None
