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
