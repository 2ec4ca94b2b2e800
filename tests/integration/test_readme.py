"""The README's shell blocks, run in order as a reader pastes them, against a live `torbit serve`,
so that the README cannot drift from what torbit does.

Every ```sh block runs in bash with `set -euo pipefail` in the server's directory (where a
`.venv` link points at this virtualenv, so `.venv/bin/torbit` is the installed console script)
and must exit 0. When a ```text block follows it, each of its lines must match a line of the
block's output, in order: `...` stands for anything, and in JSON answers (lines starting with
`{`) every number for any number, as ids and timestamps differ from run to run; the rest is
literal. A block with no answer shown must print no error answer (`{"error": ...}`), which
`curl -s` exits 0 on. A block right after a line
`<!-- readme-test: skip ... -->` is not run: installing, serving, interactive clients.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import CHEAP_ARGON2
from torbit.config import HttpConfig, IrcConfig, TelnetConfig
from torbit.testing.ports import free_port

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP_MARK = "<!-- readme-test: skip"
FENCE = re.compile(r"^```(\w*)\s*$")
ERROR_ANSWER = re.compile(r'\{\s*"error"\s*:')  # torbit's one error shape, compact or not
# The README's default addresses, pointed at the test server's free ports.
DEFAULT_HTTP = "127.0.0.1:8080"
DEFAULT_TELNET = ("127.0.0.1:5000", "127.0.0.1 5000")
DEFAULT_IRC = "127.0.0.1:6667"  # not run: the IRC blocks are interactive clients


@dataclass(frozen=True)
class Block:
    line: int  # where the block's code starts in the README, for messages
    lang: str
    code: str
    skip: bool
    answer: str | None = None  # the ```text block that follows, if any


def parse_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the answer shown right after it."""
    lines = text.split("\n")
    raw: list[tuple[int, str, str, bool, int]] = []  # start, lang, code, skip, end
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        before = [ln for ln in lines[:i] if ln.strip()]
        skip = bool(before) and before[-1].strip().startswith(SKIP_MARK)
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise ValueError(f"README line {i + 1}: unclosed code block")
        raw.append((i + 2, m.group(1), "\n".join(lines[i + 1 : end]) + "\n", skip, end))
        i = end + 1
    blocks: list[Block] = []
    for n, (start, lang, code, skip, end) in enumerate(raw):
        answer = None
        if n + 1 < len(raw):
            nstart, nlang, ncode, _, _ = raw[n + 1]
            between = lines[end + 1 : nstart - 2]
            if nlang == "text" and not any(ln.strip() for ln in between):
                answer = ncode
        blocks.append(Block(start, lang, code, skip, answer))
    return blocks


def answer_pattern(line: str) -> re.Pattern[str]:
    """A sample answer line as a pattern: `...` is anything; in JSON, a number is any number."""
    line = line.strip()
    json = line.startswith("{")
    parts = []
    for piece in re.split(r"(\.\.\.|\d+)", line):
        if piece == "...":
            parts.append(".*?")
        elif piece.isdigit() and json:
            parts.append(r"\d+")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def missing_lines(answer: str, output: str) -> list[str]:
    """The answer's lines that the output does not show, matching in order."""
    out = output.splitlines()
    pos = 0
    missing = []
    for line in (ln for ln in answer.splitlines() if ln.strip()):
        pattern = answer_pattern(line)
        for k in range(pos, len(out)):
            if pattern.search(out[k]):
                pos = k + 1
                break
        else:
            missing.append(line)
    return missing


def point_at(code: str, http_port: int, telnet_port: int) -> str:
    code = code.replace(DEFAULT_HTTP, f"127.0.0.1:{http_port}")
    for address in DEFAULT_TELNET:
        code = code.replace(address, address[: -len("5000")] + str(telnet_port))
    return code


# --- the README's shape -------------------------------------------------------------------


def test_the_readmes_addresses_are_the_default_config() -> None:
    """The blocks below run on free ports (`point_at`), so they cannot tell when a default
    port changes and the README keeps the old one; this does, for the defaults in config.py
    and the commented sample torbit.toml alike."""
    sample = tomllib.loads((README.parent / "torbit.toml").read_text())
    text = README.read_text()
    for section, config, address in (
        ("telnet", TelnetConfig(), DEFAULT_TELNET[0]),
        ("http", HttpConfig(), DEFAULT_HTTP),
        ("irc", IrcConfig(), DEFAULT_IRC),
    ):
        assert f"{config.host}:{config.port}" == address, section
        assert (sample[section]["host"], sample[section]["port"]) == (config.host, config.port)
    assert f"telnet {DEFAULT_TELNET[1]}" in text and f"http://{DEFAULT_HTTP}" in text
    assert f"-p {DEFAULT_IRC.split(':')[1]}" in text
    # where the ports are said to be configurable: once, at the first command
    assert text.count("TORBIT_HTTP__PORT=") == 1


def test_the_readme_names_the_python_it_needs() -> None:
    """The first command stops at pip on an older Python (`requires a different Python`): the
    README says which one it needs, as pyproject.toml does (first57: it did not say)."""
    project = tomllib.loads((README.parent / "pyproject.toml").read_text())["project"]
    version = project["requires-python"].removeprefix(">=")
    assert f"Python {version}+" in README.read_text()


def test_readme_is_short_and_opens_with_the_two_commands() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    blocks = parse_blocks(text)
    first, second = blocks[0], blocks[1]
    assert first.lang == second.lang == "sh" and first.skip and second.skip
    assert first.code.strip().endswith(".venv/bin/torbit serve")
    assert second.code.strip() == "./run-tests"
    assert first.line <= 10, "the commands come first"


def test_shell_blocks_hold_commands_and_answers_are_shown_apart() -> None:
    blocks = parse_blocks(README.read_text())
    runnable = [b for b in blocks if b.lang == "sh" and not b.skip]
    assert len(runnable) >= 5
    for b in blocks:
        if b.lang != "sh":
            continue
        for line in b.code.splitlines():
            assert not line.startswith(("$ ", "{", "[")), (
                f"README line {b.line}: output in a sh block"
            )


def test_answer_matching_is_strict_about_text_and_loose_about_numbers() -> None:
    answer = '{"id":1,"text":"hello",...}\n204\n'
    assert missing_lines(answer, '{"id":73,"text":"hello","at":"x"}\n204\n') == []
    assert missing_lines(answer, '{"id":73,"text":"hullo","at":"x"}\n204\n') == [
        answer.splitlines()[0]
    ]
    assert missing_lines(answer, '{"id":7,"text":"hello","at":"x"}\n404\n') == ["204"]
    assert missing_lines(answer, '204\n{"id":7,"text":"hello","at":"x"}\n') == ["204"]  # order


def test_parse_blocks_pairs_answers_and_skips() -> None:
    md = (
        "<!-- readme-test: skip (serves) -->\n```sh\nserve\n```\n\n"
        "```sh\necho hi\n```\n\n```text\nhi\n```\n\nprose\n\n```sh\ntrue\n```\n"
        "prose\n\n```text\nnot an answer\n```\n"
    )
    blocks = parse_blocks(md)
    assert [(b.lang, b.skip, b.answer) for b in blocks] == [
        ("sh", True, None),
        ("sh", False, "hi\n"),
        ("text", False, None),
        ("sh", False, None),
        ("text", False, None),
    ]


# --- the README, run --------------------------------------------------------------------------


@dataclass
class Server:
    workdir: Path
    env: dict[str, str]
    http_port: int
    telnet_port: int
    process: subprocess.Popen[str]


@pytest.fixture
def readme_server(tmp_path: Path) -> Iterator[Server]:
    """`torbit serve` from this virtualenv, on the embedded default in a directory of its own,
    on free ports, with cheap argon2 so that registering is quick."""
    torbit = Path(sys.prefix) / "bin" / "torbit"
    assert torbit.exists(), f"{torbit}: install torbit into this virtualenv first"
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    http_port, telnet_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORBIT_")}
    env.update(
        TORBIT_HTTP__PORT=str(http_port),
        TORBIT_TELNET__PORT=str(telnet_port),
        TORBIT_IRC__PORT="0",
        **{f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()},
    )
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [str(torbit), "serve"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Server(tmp_path, env, http_port, telnet_port, process)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "torbit serve did not become ready"
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@pytest.mark.timeout(900)
def test_readme_blocks_run_as_pasted(readme_server: Server) -> None:
    blocks = [b for b in parse_blocks(README.read_text()) if b.lang == "sh" and not b.skip]
    for block in blocks:
        code = point_at(block.code, readme_server.http_port, readme_server.telnet_port)
        assert not re.search(r"\b(8080|5000)\b", code), (
            f"README line {block.line}: a default port the test cannot point elsewhere"
        )
        r = subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", "-c", code],
            cwd=readme_server.workdir,
            env=readme_server.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180,  # six CLI processes took over 60 s on a shared machine at load 40
        )
        output = r.stdout
        where = f"README block at line {block.line}:\n{block.code}\n--- output:\n{output}"
        assert r.returncode == 0, f"exit code {r.returncode}; {where}"
        if block.answer is not None:
            missing = missing_lines(block.answer, output)
            assert not missing, f"answer lines not shown: {missing}; {where}"
        else:  # no answer shown (the registrations): `curl -s` exits 0 on an error answer too
            assert not ERROR_ANSWER.search(output), f"an error answer; {where}"
    assert readme_server.process.poll() is None, "the server died while the README ran"
    readme_server.process.send_signal(signal.SIGTERM)
    assert readme_server.process.wait(timeout=30) == 0
    log = (readme_server.workdir / "serve.log").read_text()
    assert "Traceback" not in log, log
