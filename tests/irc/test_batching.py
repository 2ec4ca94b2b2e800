"""A pipelining IRC client's messages to one channel are published together (one commit for
the lines queued behind each other, as telnet does with consecutive lines), in order; a line
that cannot join the batch (an error, a CTCP ACTION, another target) is handled on its own,
in its place. Counted (commits of the real SQLite log), never timed."""

from __future__ import annotations

from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from torbit.backends.message_log.sql import SqlLog

LINES = 40


async def test_queued_privmsgs_to_a_channel_go_out_in_one_commit_in_order(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    app = await make_server(irc={"guests": True})
    assert app.core is not None
    message_log = app.core.message_log
    assert isinstance(message_log, SqlLog)
    ann, gus = await RawIrc.connect(app), await RawIrc.connect(app)
    cleanup += [ann, gus]
    await ann.register("ann")
    ann.send("JOIN #gen")
    await ann.expect(" 366 ann #gen ")
    await gus.register("gus")
    gus.send("JOIN #gen")
    await gus.expect(" 366 gus #gen ")

    before = message_log.commits
    # one write: the server reads these in one go and queues them behind the first
    gus.send(*[f"PRIVMSG #gen :line {i}" for i in range(LINES)], "PING :done")
    await gus.expect("PONG")
    for i in range(LINES):
        line = await ann.expect("PRIVMSG #gen :")
        assert line.endswith(f":line {i}"), (i, line)
    # one message per commit would be 40; the kernel may split one write, so allow a few
    assert message_log.commits - before <= 3, message_log.commits - before

    # lines that cannot join a batch break it and keep their place
    gus.send(
        "PRIVMSG #gen :say a",
        "PRIVMSG #gen :\x02\x02",  # only formatting: 412, nothing sent
        "PRIVMSG #gen :say b",
        "PRIVMSG #gen :\x01ACTION waves\x01",
        "PRIVMSG #gen,ann :say c",  # two targets
        "PRIVMSG #gen :say d",
        "PING :done2",
    )
    await gus.expect(" 412 ")
    await gus.expect("PONG")
    seen = [await ann.expect("#gen :") for _ in range(5)]
    assert [s.rpartition("#gen :")[2] for s in seen] == [
        "say a",
        "say b",
        "\x01ACTION waves\x01",
        "say c",
        "say d",
    ]
    assert not [line for line in gus.lines if " 404 " in line]
