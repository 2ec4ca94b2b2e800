"""labeled-response's loose ends after stop 52 (frontends/irc/labels.py, output.py), each
through real sockets: a labeled private message's echo out of its place, another session's
message taken for an awaited echo, a MONITOR or WALLOPS line taken into a reply, and a
labeled QUIT answered ACK then ERROR."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, http_client, register
from tests.helpers.irc import joined
from tests.irc.test_labeled_response import parsed, until_pong
from tests.irc.test_labeled_response_attacks import echoes_keep_their_place
from torbit.app import App
from torbit.backends.message_log.sql import SqlLog
from torbit.core.delivery import Delivery
from torbit.frontends.irc.session import IrcSession

CAPS = "labeled-response batch echo-message"


class Held:
    """Own messages saying `word` held from their sender's sessions until `release` (a late
    log: Kafka, another node's, a busy batch)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, word: str) -> None:
        self.held: list[tuple[IrcSession, Delivery]] = []
        self.deliver = deliver = IrcSession.deliver
        held = self.held

        def holding(session: IrcSession, delivery: Delivery) -> None:
            m = delivery.message
            if m.sender_key == session.user_key and word in m.text:
                held.append((session, delivery))
                return
            deliver(session, delivery)

        monkeypatch.setattr(IrcSession, "deliver", holding)

    def release(self) -> None:
        held, self.held[:] = list(self.held), []
        for session, delivery in held:
            self.deliver(session, delivery)


async def test_a_labeled_private_echo_keeps_its_place_among_the_inbox(
    app: App, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy log commits the labeled private message and others' messages to the sender in
    one batch: the echo was held until the command was done, and the messages delivered
    after it in the same batch went out before it (the inbox's ids out of order)."""
    assert app.core is not None
    message_log = app.core.message_log
    assert isinstance(message_log, SqlLog)
    monkeypatch.setattr(message_log, "_publish_now", lambda drafts: None)  # the writer's path
    lab = await joined(app, "lab", caps=f"{CAPS} server-time message-tags")
    cleanup.append(lab)
    other = await joined(app, "other")
    cleanup.append(other)
    talkers = [await joined(app, f"talker{i}") for i in range(3)]
    cleanup.extend(talkers)
    await echoes_keep_their_place(lab, talkers, "other", "lab", "p", seconds=20)


async def test_another_sessions_message_is_not_taken_for_an_awaited_echo(
    app: App, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two connections of one account in a room, without echo-message. The first one's echo
    is late; the second one's message, delivered meanwhile, was counted as that echo: hidden
    from the first connection, which was then shown its own message in its place."""
    async with http_client(app) as client:
        await register(client, "lab")
    held = Held(monkeypatch, "held")
    one = await joined(app, "lab", "r", password=PASSWORD)
    cleanup.append(one)
    two = await joined(app, "lab", "r", password=PASSWORD)
    cleanup.append(two)
    watcher = await joined(app, "wat", "r")
    cleanup.append(watcher)
    start = len(one.lines)
    one.send("PRIVMSG #r :held from one")
    await until_pong(one)  # handled: its echo is due
    await watcher.expect("held from one")
    two.send("PRIVMSG #r :from two")
    await watcher.expect("from two")
    await until_pong(one)
    held.release()
    await until_pong(one)
    said = [parsed(line).params[-1] for line in one.lines[start:] if " PRIVMSG " in line]
    assert said == ["from two"], one.lines[start:]


async def test_another_sessions_message_is_not_labeled_as_a_reply(
    app: App, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same with a labeled message and echo-message: the other connection's message
    went out labeled as the reply, and the real echo came later unlabeled."""
    async with http_client(app) as client:
        await register(client, "lab")
    held = Held(monkeypatch, "held")
    one = await joined(app, "lab", "r", caps=CAPS, password=PASSWORD)
    cleanup.append(one)
    two = await joined(app, "lab", "r", password=PASSWORD)
    cleanup.append(two)
    watcher = await joined(app, "wat", "r")
    cleanup.append(watcher)
    start = len(one.lines)
    one.send("@label=H1 PRIVMSG #r :held from one")
    await watcher.expect("held from one")
    two.send("PRIVMSG #r :from two")
    await watcher.expect("from two")
    await one.expect("from two")
    held.release()
    await one.expect("held from one")
    await until_pong(one)
    lines = [parsed(line) for line in one.lines[start:] if " PRIVMSG " in line]
    assert [(m.params[-1], m.tags.get("label")) for m in lines] == [
        ("from two", None),
        ("held from one", "H1"),
    ], one.lines[start:]


async def test_monitor_and_wallops_lines_are_no_reply(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    """A labeled PRIVMSG waits out the room's rate limit; meanwhile a user it MONITORs comes
    online and an operator sends a WALLOPS. The 730 and the WALLOPS were taken into its
    reply (a batch of them in place of its ACK)."""
    app = await make_server(
        irc={"guests": True}, limits={"room_message_rate": 0.2, "room_message_burst": 1}
    )
    async with http_client(app) as client:
        await register(client, "boss")
    assert app.core is not None
    await app.core.accounts.set_admin("boss", True)
    lab = await joined(app, "lab", "slow", caps="labeled-response batch")
    cleanup.append(lab)
    lab.send("MODE lab +w", "MONITOR + bob")
    await lab.expect(" 731 ")
    ivy = await joined(app, "ivy")
    cleanup.append(ivy)
    ivy.send(f"OPER boss {PASSWORD}")
    await ivy.expect(" 381 ")
    await until_pong(lab)
    start = len(lab.lines)
    lab.send("PRIVMSG #slow :first", "@label=f1 PRIVMSG #slow :second")
    await asyncio.sleep(0.3)  # the second waits for the rate limit (5 s)
    bob = await joined(app, "bob")
    cleanup.append(bob)
    ivy.send("WALLOPS :hear ye")
    await ivy.expect("hear ye")  # ivy's own WALLOPS: sent to lab too by now
    await until_pong(lab)  # handled after the labeled PRIVMSG
    lines = lab.lines[start:]
    answers = [parsed(line) for line in lines if "f1" in line]
    assert [(m.command, m.params) for m in answers] == [("ACK", ())], lines
    news = [parsed(line) for line in lines if " 730 " in line or "hear ye" in line]
    assert [dict(m.tags) for m in news] == [{}, {}], lines


async def test_a_labeled_quit_is_answered_by_its_error(app: App, cleanup: list[Any]) -> None:
    """The QUIT's reply is the ERROR that closes the link: it was an ACK, then the ERROR
    unlabeled."""
    lab = await joined(app, "lab", caps="labeled-response batch")
    cleanup.append(lab)
    start = len(lab.lines)
    lab.send("@label=q1 QUIT :bye")
    m = parsed(await lab.expect("ERROR"))
    assert dict(m.tags) == {"label": "q1"}, lab.lines[start:]
    assert not [line for line in lab.lines[start:] if " ACK" in line]
