"""Private messages that came while a telnet user was away: told at their next login, read
back with `/msgs`. A telnet user offline when they came had no way to see them (the web
page, HTTP and IRC's CHATHISTORY had): the first-hour walk of stop 54."""

from __future__ import annotations

import re

from tests.integration.test_telnet_comeback import connect, gone, landing
from torbit.app import App

MISSED = r"^\* (\d+) private messages? since your last session here: /msgs shows them$"


def missed(lines: list[str]) -> list[str]:
    return [line for line in lines if re.match(MISSED, line)]


async def test_private_messages_sent_while_away_are_told_and_read_back(server: App) -> None:
    alice = await connect(server, "alice")  # registers: her first session
    await alice.close()
    await gone(server, "alice", "lobby")
    bob = await connect(server, "bob")
    for text in ("are you there?", "call me"):
        bob.send(f"/msg alice {text}")
        await bob.expect(rf"\(private to alice\) <bob> {re.escape(text)}$")
    await bob.close()
    carol = await connect(server, "carol")
    carol.send("/msg alice hello from carol")
    await carol.expect(r"\(private to alice\) <carol> hello from carol")
    await carol.close()

    lines = await landing(server, "alice")
    assert [re.sub(MISSED, r"\1", line) for line in missed(lines)] == ["3"], lines
    await gone(server, "alice", "lobby")

    alice = await connect(server, "alice")
    alice.send("/msgs bob")
    await alice.expect(r"^\* last 2 private messages with bob:$")
    await alice.expect(r"\(private\) <bob> are you there\?$")
    await alice.expect(r"\(private\) <bob> call me$")
    alice.send("/msgs")
    await alice.expect(r"^\* last 3 private messages:$")
    await alice.expect(r"\(private\) <carol> hello from carol$")
    await alice.close()
    await gone(server, "alice", "lobby")
    assert missed(await landing(server, "alice")) == []  # shown by /msgs: not missed again


async def test_what_a_session_was_shown_live_is_not_told_at_the_next_login(
    server: App,
) -> None:
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    bob.send("/msg alice still here?")
    await alice.expect(r"\(private\) <bob> still here\?$")
    await alice.close()
    await gone(server, "alice", "lobby")
    bob.send("/msg alice gone now")
    await bob.expect(r"\(private to alice\) <bob> gone now")
    lines = await landing(server, "alice")
    assert [re.sub(MISSED, r"\1", line) for line in missed(lines)] == ["1"], lines
    await bob.close()


async def test_bob_ignored_is_not_counted(server: App) -> None:
    """Messages from someone ignored never reach you: not counted either."""
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    alice.send("/ignore bob")
    await alice.expect("you now ignore bob")
    await alice.close()
    await gone(server, "alice", "lobby")
    bob.send("/msg alice you will not see this")
    await bob.expect(r"\(private to alice\) <bob> you will not see this")
    await bob.close()
    assert missed(await landing(server, "alice")) == []
