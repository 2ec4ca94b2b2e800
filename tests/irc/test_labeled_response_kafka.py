"""labeled-response on a real Kafka broker: there a message comes back to its sender only
when the node has read it from the broker, later than on the SQL log, where the commit and
the delivery are one turn. The echo of a labeled PRIVMSG is still its reply, with its label,
and each of several labeled messages in one packet gets its own; a labeled CHATHISTORY (read
from the broker) still nests its batch in the labeled one; another client's lines that came
while a reply was awaited are never labeled."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.broker import topic_prefix
from tests.helpers.irc import RawIrc
from tests.irc.test_labeled_response import CAPS, batch_of, client, parsed, until_pong
from torbit.app import App
from torbit.testing.kafka import KafkaCluster

pytestmark = pytest.mark.kafka

EVERY = f"{CAPS} echo-message message-tags server-time draft/chathistory"


@pytest.fixture
async def app(make_server: ServerFactory, broker: KafkaCluster) -> App:
    url = f"kafka://{broker.bootstrap}"
    return await make_server(
        irc={"guests": True}, message_log={"url": url, "topic_prefix": topic_prefix("lab")}
    )


async def until_all(raw: RawIrc, start: int, *needles: str) -> list[str]:
    """`raw`'s lines from `start` until each needle was in one of them, whatever the order."""
    while not all(any(n in line for line in raw.lines[start:]) for n in needles):
        await raw.expect("")
    return raw.lines[start:]


async def test_labeled_echoes_on_kafka(app: App, cleanup: list[Any]) -> None:
    lab = await client(app, "lab", cleanup, "lobby", caps=EVERY)
    other = await client(app, "other", cleanup, "lobby", caps=EVERY)
    await until_pong(lab)

    lab.send("@label=r1 PRIVMSG #lobby :hello room")
    echo = parsed(await lab.expect("hello room"))
    assert (echo.command, echo.tags.get("label")) == ("PRIVMSG", "r1")
    assert "label" not in parsed(await other.expect("hello room")).tags

    lab.send("@label=p1 PRIVMSG other :hello you")
    assert parsed(await lab.expect("hello you")).tags.get("label") == "p1"
    assert "label" not in parsed(await other.expect("hello you")).tags

    # three in one packet: three echoes, in order, each with its own label and no other line
    start = len(lab.lines)
    lab.send(*(f"@label=m{n} PRIVMSG #lobby :burst {n}" for n in range(3)))
    lines = await until_all(lab, start, *(f" :burst {n}" for n in range(3)))
    echoes = [parsed(line) for line in lines if " :burst " in line]
    assert [(m.params[-1], m.tags.get("label")) for m in echoes] == [
        (f"burst {n}", f"m{n}") for n in range(3)
    ], lines
    assert [line for line in lines if "label=" in line and " :burst " not in line] == [], lines

    # another client talks while lab's labeled message waits for the broker: never labeled
    start = len(lab.lines)
    lab.send("@label=q1 PRIVMSG #lobby :mine")
    other.send("PRIVMSG #lobby :theirs")
    lines = await until_all(lab, start, "#lobby mine", "#lobby theirs")
    tagged = {parsed(line).params[-1]: parsed(line).tags.get("label") for line in lines}
    assert (tagged.get("mine"), tagged.get("theirs")) == ("q1", None), lines


async def test_labeled_chathistory_on_kafka(app: App, cleanup: list[Any]) -> None:
    lab = await client(app, "lab", cleanup, "lobby", caps=EVERY)
    other = await client(app, "other", cleanup, "lobby", caps="")
    other.send("PRIVMSG #lobby :kept in the broker")
    await lab.expect("kept in the broker")
    await until_pong(lab)
    start = len(lab.lines)
    lab.send("@label=h1 CHATHISTORY LATEST #lobby * 10")
    await until_pong(lab)
    lines = lab.lines[start:]
    inside = batch_of(lines, "h1")
    assert [m.command for m in inside] == ["BATCH", "BATCH"], lines
    ref = inside[0].params[0][1:]
    kept = [parsed(line) for line in lines if "kept in the broker" in line]
    assert len(kept) == 1 and kept[0].tags["batch"] == ref, lines
