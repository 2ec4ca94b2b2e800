"""Every door's help fits 100 columns: each `/help` row on telnet (its two-space indent
counted) and each HELP line on IRC. On main `/ban` and `/set` (141 and 160 columns on telnet)
and IRC's MODE row (185) wrapped past a 120-column terminal, mid-word and flush left."""

from __future__ import annotations

from typing import Any

from tests.helpers.irc import RawIrc
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.frontends.telnet.commands import TABLE

WIDTH = 100


async def test_telnet_help_rows_fit_and_name_every_command(app: App) -> None:
    assert app.telnet_port is not None
    c = await TelnetClient.connect(app.telnet_port)
    await c.login("alice", "secret-pw")
    c.send("/help")
    await c.expect(r"^\* any other line is a message")
    start = next(i for i, line in enumerate(c.seen) if line == "* commands:")
    rows = c.seen[start + 1 : -1]
    assert {row.split()[0] for row in rows if row.startswith("  /")} == {
        f"/{command.name}" for command in TABLE
    }
    too_wide = [row for row in rows if len(row) > WIDTH]
    assert not too_wide, too_wide
    await c.close()


async def test_irc_help_lines_fit(app: App, cleanup: list[Any]) -> None:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    await raw.register("foo")
    for topic in ("", " MODE"):
        start = len(raw.lines)
        raw.send(f"HELP{topic}", "PING :sync")
        await raw.expect(" PONG torbit sync")
        said = [line for line in raw.lines[start:] if line.split(" ")[1] in ("704", "705")]
        texts = [line.split(" :", 1)[1] for line in said]
        assert texts, said
        too_wide = [text for text in texts if len(text) > WIDTH]
        assert not too_wide, too_wide
