"""Issue 10, item 18: `torbit user add --password` showed the password in the process list,
and `torbit user del` asked nothing. Now passwords never come from argv: asked twice on the
terminal (getpass: a real pseudo-terminal here), or read with --password-stdin; and
`user del` asks for confirmation unless --yes."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CHEAP_ARGON2
from tests.helpers.cli import cli

TORBIT = [sys.executable, "-m", "torbit"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
    e["TORBIT_STORAGE__URL"] = f"sqlite:///{tmp_path}/torbit.db"
    e["TORBIT_LOG__DIR"] = str(tmp_path / "logs")
    e.update({f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()})
    return e


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TORBIT, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def on_terminal(env: dict[str, str], args: list[str], answers: list[str]) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal, answering each prompt
    (a line ending in ': ' or '? ') in turn; its exit code and everything it wrote."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal, stdin and stdout
        os.execve(sys.executable, [sys.executable, "-m", "torbit", *args], env)
    out = b""
    answered_at = 0  # a prompt counts only if written after the last answer
    pending = list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        fresh = out[answered_at:].rstrip()
        if pending and fresh and fresh.endswith((b":", b"?", b"]")):
            os.write(fd, pending.pop(0).encode() + b"\n")
            answered_at = len(out)
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_no_password_option_exists(env: dict[str, str]) -> None:
    r = run(env, "user", "add", "alice", "--password", "hunter2-hunter2")
    assert r.returncode == 2 and "No such option" in r.stderr
    r = cli(env, "user", "passwd", "alice", "--password", "hunter2-hunter2")  # in this process
    assert r.returncode == 2 and "No such option" in r.stderr


def test_without_a_terminal_the_password_comes_only_from_stdin(env: dict[str, str]) -> None:
    r = run(env, "user", "add", "alice")
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    r = run(env, "user", "add", "alice", "--password-stdin")  # nothing piped in
    assert r.returncode == 2 and "standard input is empty" in r.stderr  # not "too short"
    r = run(env, "user", "add", "alice", "--password-stdin", stdin="piped-secret\n")
    assert r.returncode == 0, r.stderr
    assert "piped-secret" not in r.stdout + r.stderr


def test_on_a_terminal_the_password_is_asked_twice_unechoed(env: dict[str, str]) -> None:
    code, out = on_terminal(env, ["user", "add", "alice"], ["typed-secret", "typed-secret"])
    assert code == 0, out
    assert "Password: " in out and "Password again: " in out and "added user alice" in out
    assert "typed-secret" not in out  # getpass does not echo
    code, out = on_terminal(env, ["user", "passwd", "alice"], ["one-secret", "another-one"])
    assert code == 1 and "the passwords do not match" in out


def test_user_del_asks_first(env: dict[str, str]) -> None:
    """The prompts on a real terminal and the refusal without one go through real processes;
    the accounts are made, listed and the last one deleted in this process, over the same
    database (tests/helpers/cli.py: each new interpreter cost a second)."""
    for name in ("alice", "bob"):
        assert (
            cli(env, "user", "add", name, "--password-stdin", stdin="secret-pw\n").returncode == 0
        )
    code, out = on_terminal(env, ["user", "del", "alice"], ["n"])
    assert code == 1 and "nothing deleted" in out
    r = run(env, "user", "del", "alice")  # no terminal, no answer: nothing is deleted
    assert r.returncode != 0
    assert "alice" in cli(env, "user", "list").stdout
    code, out = on_terminal(env, ["user", "del", "alice"], ["y"])
    assert code == 0 and "deleted user alice" in out, out
    r = cli(env, "user", "del", "bob", "--yes")
    assert r.returncode == 0 and "deleted user bob" in r.stdout
    assert cli(env, "user", "list").stdout.strip() == "no users"
