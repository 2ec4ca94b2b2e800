"""The README's telnet command table and a live server's `/help` name the same commands: the
README's blocks that test_readme.py runs are HTTP and CLI ones, the telnet session is not run,
so a command added, renamed or removed on one side only would go unseen."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands(text: str) -> set[str]:
    """The `/commands` in the first column of the README's telnet command table."""
    section = text.split("## Telnet", 1)[1].split("\n## ", 1)[0]
    first_cells = (
        line.split(" | ", 1)[0] for line in section.splitlines() if line.startswith("| `/")
    )
    return {m for cell in first_cells for m in re.findall(r"`(/[a-z]+)", cell)}


def help_commands(lines: list[str]) -> set[str]:
    return {m.group(1) for line in lines if (m := re.match(r"^  (/[a-z]+)\b", line))}


def test_the_table_parser_reads_every_command_of_a_cell() -> None:
    text = (
        "## Telnet\n\n| command | what it does |\n|---|---|\n"
        "| `/rooms [AFTER]`, `/list` | list |\n| `/except`/`/unexcept MASK` | x `/nope` |\n"
        "\n## IRC\n| `/irc` | no |\n"
    )
    assert readme_commands(text) == {"/rooms", "/list", "/except", "/unexcept"}


async def test_readme_table_and_help_name_the_same_commands(server: App) -> None:
    assert server.telnet_port is not None
    c = await TelnetClient.connect(server.telnet_port)
    await c.login("alice")
    c.send("/help")
    await c.expect(r"^\* any other line is a message")
    shown = help_commands(c.seen)
    documented = readme_commands(README.read_text())
    assert len(shown) > 20
    assert sorted(documented - shown) == [], "in the README, not in /help"
    assert sorted(shown - documented) == [], "in /help, not in the README"
    await c.close()


def readme_session(text: str) -> list[str]:
    """The README's telnet session from the welcome on, as a terminal shows it."""
    section = text.split("## Telnet", 1)[1]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("Welcome")) :]


def typed(line: str) -> bool:
    """A line alice typed (her terminal echoes it), not one the server sent."""
    return not line.startswith(("* ", "! ", "[", "  ", "Welcome"))


def untimed(line: str) -> str:
    return re.sub(r"^\[\d\d:\d\d:\d\d\] ", "[T] ", line)


async def test_the_readme_session_runs_as_written_on_a_fresh_server(server: App) -> None:
    """Alice's session, typed line by line as the README shows it, with bob registered in a
    second terminal as it says: the server answers every line as written (times aside). On
    main `/msg bob` answered "no such user" (the README never had bob made), and the counts
    read "(2 online)" and "1 member(s)"."""
    shown = readme_session(README.read_text())
    assert server.telnet_port is not None
    bob = await TelnetClient.connect(server.telnet_port)
    await bob.login("bob")
    alice = await TelnetClient.connect(server.telnet_port)
    await alice.login("alice")
    assert "torbit chat server. Log in with your name, or pick a new one to register." in (
        alice.seen
    )
    seen = [line for line in alice.seen if line.startswith(("Welcome", "* you are in"))]
    bob.send("morning all")
    await alice.expect("<bob> morning all$")
    seen.append(alice.seen[-1])
    for line in filter(typed, shown):
        seen.append(line)  # as the terminal echoes it
        alice.send(line)
        if line == "/quit":
            await alice.expect(r"^\* bye$")
            seen.append(alice.seen[-1])
            break
        alice.send("/ignored")  # its answer ends the answer to `line`
        while not (answer := (await alice.expect(".*")).group(0)).startswith("* you ignore"):
            seen.append(answer)
        if line == "hello bob":
            bob.send("hi alice!")
            await alice.expect("<bob> hi alice!$")
            seen.append(alice.seen[-1])
    assert [untimed(line) for line in seen if line] == [untimed(line) for line in shown]
    await bob.close()
