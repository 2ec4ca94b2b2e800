"""CHATHISTORY TARGETS (frontends/irc/history.py), which answered an empty batch always."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers.irc import joined
from torbit.app import App
from torbit.protocol.irc import MessageReceived, parse_line


def parsed(line: str) -> Any:
    event = parse_line(line.encode())
    assert isinstance(event, MessageReceived), line
    return event.message


async def test_chathistory_targets_lists_rooms_and_conversations(
    app: App, cleanup: list[Any]
) -> None:
    """CHATHISTORY TARGETS answered an empty batch, always. Now: the channels and the
    private conversations whose latest message is between the two times (both left out),
    earliest first, with that message's time."""
    caps = "batch server-time message-tags echo-message draft/chathistory"
    lab = await joined(app, "lab", "one", "two", caps=caps)
    cleanup.append(lab)
    pal = await joined(app, "pal", "one")
    cleanup.append(pal)
    times = {}
    for target, text in (("#one", "in one"), ("pal", "to pal"), ("#two", "in two")):
        lab.send(f"PRIVMSG {target} :{text}")
        times[target] = parsed(await lab.expect(text)).tags["time"]
        await asyncio.sleep(0.01)  # a millisecond apart at least
    ever = "timestamp=2020-01-01T00:00:00.000Z timestamp=2262-01-01T00:00:00.000Z"

    async def targets(window: str, limit: int) -> list[tuple[str, str]]:
        start = len(lab.lines)
        lab.send(f"CHATHISTORY TARGETS {window} {limit}")
        await lab.expect("BATCH -")
        lines = [parsed(line) for line in lab.lines[start:]]
        assert lines[0].params[1:] == ("draft/chathistory-targets",)
        return [m.params[1:] for m in lines if m.command == "CHATHISTORY"]

    assert await targets(ever, 10) == [(t, times[t]) for t in ("#one", "pal", "#two")]
    assert await targets(ever, 2) == [(t, times[t]) for t in ("#one", "pal")]
    window = f"timestamp={times['#one']} timestamp={times['#two']}"
    assert await targets(window, 10) == [("pal", times["pal"])]
    lab.send(f"CHATHISTORY TARGETS msgid=one-1 {ever.split()[1]} 10")
    await lab.expect("FAIL CHATHISTORY INVALID_PARAMS TARGETS")
