"""A message fanned out over the IRC door is rendered once per distinct set of enabled caps
(and target), not once per recipient, also when a pipelining sender's lines go out as a run
(`SessionOutput.deliver_all`): each client still gets the tags it asked for, in order, its
own lines only with echo-message, and a client that stops reading is still dropped. Renders
are counted (the real `message_lines`, wrapped), never timed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from tests.helpers.slow_reader import stop_reading
from torbit.frontends.irc import render

LINES = 40


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every message `render.message_lines` renders, as it renders it."""
    seen: list[str] = []
    real: Callable[..., bytes] = render.message_lines

    def counted(message: Any, *args: Any, **kwargs: Any) -> bytes:
        seen.append(message.text)
        return real(message, *args, **kwargs)

    monkeypatch.setattr(render, "message_lines", counted)
    return seen


async def client(app: Any, nick: str, caps: str, cleanup: list[Any]) -> RawIrc:
    """A guest in #gen with `caps` enabled (none if empty)."""
    c = await RawIrc.connect(app)
    cleanup.append(c)
    if caps:
        c.send(f"CAP REQ :{caps}")
        await c.expect(" ACK ")
    await c.register(nick)
    c.send("JOIN #gen")
    await c.expect(f" 366 {nick} #gen ")
    return c


async def test_a_run_is_rendered_once_per_cap_set_and_each_client_gets_its_tags_in_order(
    make_server: ServerFactory, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server(irc={"guests": True})
    gus = await client(app, "gus", "echo-message", cleanup)  # the sender, shown its own
    plain = [await client(app, nick, "", cleanup) for nick in ("ann", "bob")]
    tagged = [
        await client(app, nick, "server-time message-tags", cleanup) for nick in ("cat", "dan")
    ]
    timed = await client(app, "eve", "server-time", cleanup)
    renders = count_renders(monkeypatch)

    # one write: read at once, queued behind the first, published as one run (or a few)
    gus.send(*[f"PRIVMSG #gen :line {i}" for i in range(LINES)], "PING :done")
    for i in range(LINES):
        assert (await gus.expect("PRIVMSG #gen :")).endswith(f"#gen :line {i}")
        for c in plain:
            line = await c.expect("PRIVMSG #gen :")
            assert line == f":gus!~gus@irc.torbit PRIVMSG #gen :line {i}", line
        for c in tagged:
            line = await c.expect("PRIVMSG #gen :")
            assert line.startswith("@time=") and ";msgid=gen-" in line, line
            assert line.endswith(f" :gus!~gus@irc.torbit PRIVMSG #gen :line {i}"), line
        line = await timed.expect("PRIVMSG #gen :")
        assert line.startswith("@time=") and "msgid=" not in line, line
        assert line.endswith(f"PRIVMSG #gen :line {i}"), line
    await gus.expect("PONG")
    # six recipients, four cap sets ({echo-message}, {}, {server-time, message-tags},
    # {server-time}): each message rendered four times (one per recipient: six)
    assert len(renders) == 4 * LINES, len(renders)
    assert sorted(renders) == sorted(f"line {i}" for i in range(LINES) for _ in range(4))

    # a sender without echo-message is not shown its own lines; the others get them in order
    ann = plain[0]
    ann.lines.clear()
    ann.send(*[f"PRIVMSG #gen :from ann {i}" for i in range(10)], "PING :ann-done")
    for i in range(10):
        assert (await gus.expect("PRIVMSG #gen :")).endswith(f"#gen :from ann {i}")
    await ann.expect("PONG")
    ann.send("PING :again")  # after the fan-out: anything of its own would be before this
    await ann.expect("PONG")
    assert not [line for line in ann.lines if "PRIVMSG" in line], ann.lines


async def test_a_client_that_stops_reading_is_dropped_from_a_run(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    app = await make_server(irc={"guests": True, "max_output_buffer": 8192})
    slow = await client(app, "slow", "", cleanup)
    stop_reading(app, slow.writer, "slow")
    fast = await client(app, "fast", "server-time", cleanup)
    gus = await client(app, "gus", "", cleanup)
    text = "x" * 400
    for chunk in range(400):  # up to ~9 MB for the slow reader: far past the kernel's buffers
        gus.send(*[f"PRIVMSG #gen :{chunk}-{i} {text}" for i in range(50)])
        for i in range(50):
            line = await fast.expect("PRIVMSG #gen :")
            assert f"PRIVMSG #gen :{chunk}-{i} " in line, (chunk, i, line)
        if [line for line in fast.lines if " QUIT " in line]:
            break
    quits = [line for line in fast.lines if " QUIT " in line] or [await fast.expect(" QUIT ")]
    assert quits[0].startswith(":slow!") and "too slow" in quits[0], quits
    assert app.metrics.dropped_clients.labels("irc")._value.get() == 1


async def test_caps_changed_after_registration_change_what_a_client_gets(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    app = await make_server(irc={"guests": True})
    ann, bob, gus = [await client(app, nick, "", cleanup) for nick in ("ann", "bob", "gus")]
    gus.send(*[f"PRIVMSG #gen :before {i}" for i in range(5)])
    for i in range(5):
        for c in (ann, bob):
            line = await c.expect("PRIVMSG #gen :")
            assert line == f":gus!~gus@irc.torbit PRIVMSG #gen :before {i}", line
    ann.send("CAP REQ :server-time")
    await ann.expect(" ACK ")
    gus.send(*[f"PRIVMSG #gen :after {i}" for i in range(5)])
    for i in range(5):
        line = await ann.expect("PRIVMSG #gen :")
        assert line.startswith("@time=") and line.endswith(f"#gen :after {i}"), line
        line = await bob.expect("PRIVMSG #gen :")
        assert line == f":gus!~gus@irc.torbit PRIVMSG #gen :after {i}", line
