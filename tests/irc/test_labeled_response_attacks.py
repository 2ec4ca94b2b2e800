"""labeled-response (frontends/irc/labels.py) under attack: what a buggy or hostile client,
or a slow message log, did to the replies of labeled commands."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc, joined
from tests.irc.test_labeled_response import parsed, until_pong
from torbit.app import App
from torbit.backends.message_log.sql import SqlLog
from torbit.core.delivery import Delivery
from torbit.frontends.irc.session import IrcSession

CAPS = "labeled-response batch echo-message"


async def echoes_keep_their_place(
    lab: RawIrc, talkers: list[RawIrc], to: str, talk_to: str, label: str, seconds: float
) -> None:
    """30 labeled messages from `lab` to `to`, each with three of the talkers' to `talk_to`
    (committed together by a busy log): every PRIVMSG `lab` is shown comes in the log's
    order, its own echoes labeled in the order sent."""
    start = len(lab.lines)
    for i in range(30):
        lab.send(f"@label={label}{i} PRIVMSG {to} :mine {i}")
        for t in talkers:
            t.send(f"PRIVMSG {talk_to} :chatter {i}")
        await asyncio.sleep(0.01)
    shown = f" PRIVMSG {to} " if to.startswith("#") else " PRIVMSG "
    async with asyncio.timeout(seconds):
        while sum(shown in line for line in lab.lines[start:]) < 120:
            await until_pong(lab)
    messages = [parsed(line) for line in lab.lines[start:] if shown in line]
    ids = [int(m.tags["msgid"].rpartition("-")[2]) for m in messages]
    assert ids == sorted(ids), [(m.tags.get("label"), m.params[-1]) for m in messages]
    mine = [m for m in messages if m.params[-1].startswith("mine")]
    assert [m.tags.get("label") for m in mine] == [f"{label}{i}" for i in range(30)]


def late_echoes(monkeypatch: pytest.MonkeyPatch, word: str, delay: float) -> None:
    """A message log that delivers the echoes of messages saying `word` `delay` seconds late
    (a Kafka log, another node's: labels.py's ECHO_WAIT)."""
    deliver = IrcSession.deliver

    def late(self: IrcSession, delivery: Delivery) -> None:
        m = delivery.message
        if m.sender_key == self.user_key and word in m.text:
            asyncio.get_running_loop().call_later(delay, deliver, self, delivery)
            return
        deliver(self, delivery)

    monkeypatch.setattr(IrcSession, "deliver", late)


async def test_a_failed_unlabeled_message_does_not_end_a_labeled_reply_waiting_for_its_echo(
    app: App, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The labeled message's echo is due; the next command, unlabeled, sends a message that
    fails (no such nick): its echo is no longer due, and that was taken off the labeled
    reply's, which ended at once (an ACK) and let its echo go out unlabeled."""
    late_echoes(monkeypatch, "late", 0.5)
    lab = await joined(app, "lab", caps=CAPS)
    cleanup.append(lab)
    other = await joined(app, "other")
    cleanup.append(other)
    start = len(lab.lines)
    lab.send("@label=A1 PRIVMSG other :late one", "PRIVMSG nobody-here :lost")
    await lab.expect("late one")
    await until_pong(lab)
    answers = [parsed(line) for line in lab.lines[start:] if "A1" in line]
    assert [(m.command, m.params) for m in answers] == [("PRIVMSG", ("other", "late one"))]


async def test_a_labeled_echo_keeps_its_place_among_the_rooms_messages(
    app: App, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy log commits several publishes in one batch and delivers them in order: the
    labeled message's echo, then another's message sent after it. The echo was held until
    the command was done, and the other's message, written at once, came before it."""
    assert app.core is not None
    message_log = app.core.message_log
    assert isinstance(message_log, SqlLog)
    monkeypatch.setattr(message_log, "_publish_now", lambda drafts: None)  # the writer's path
    caps = f"{CAPS} server-time message-tags"
    lab = await joined(app, "lab", "busy", caps=caps)
    cleanup.append(lab)
    talkers = [await joined(app, f"talker{i}", "busy") for i in range(3)]
    cleanup.extend(talkers)
    await echoes_keep_their_place(lab, talkers, "#busy", "#busy", "o", seconds=10)


async def test_anothers_join_is_no_reply_of_a_labeled_command(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    """A labeled PRIVMSG waits out the room's rate limit (fakelag); meanwhile another joins
    and speaks. Their JOIN was taken into the reply: held as its first line (so their
    message, written at once, came before their JOIN) and then sent as the reply, labeled,
    in place of the ACK."""
    app = await make_server(
        irc={"guests": True}, limits={"room_message_rate": 1.0, "room_message_burst": 1}
    )
    lab = await joined(app, "lab", "slow", caps="labeled-response batch")
    cleanup.append(lab)
    start = len(lab.lines)
    lab.send("PRIVMSG #slow :first", "@label=f1 PRIVMSG #slow :second")
    await asyncio.sleep(0.3)  # the second waits for the rate limit (a second)
    other = await joined(app, "other", "slow")
    cleanup.append(other)
    other.send("PRIVMSG #slow :hi all")
    await lab.expect("hi all")
    await lab.expect("f1")
    await until_pong(lab)
    lines = lab.lines[start:]
    answers = [parsed(line) for line in lines if "f1" in line]
    assert [(m.command, m.params) for m in answers] == [("ACK", ())], lines
    joins = [i for i, line in enumerate(lines) if " JOIN " in line and "other" in line]
    said = [i for i, line in enumerate(lines) if "hi all" in line]
    assert len(joins) == 1 and "label" not in parsed(lines[joins[0]]).tags, lines
    assert joins[0] < said[0], lines
