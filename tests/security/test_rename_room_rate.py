"""A guest's IRC `NICK` carries what its old name spent of the per-room message rate
(`limits.room_message_rate`), as it carries the read budget, the message rate and the action
limits: on main the per-room bucket was keyed by the old name, so a rename was a full burst
again in every room, as often as the guest cared to rename (here: the message after the
rename was sent). Also for a room the guest left before renaming and came back to."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from torbit.app import App
from torbit.frontends.irc import chat

BURST = 3
SLOW = {"room_message_rate": 0.001, "room_message_burst": BURST}  # no refill in a test


async def lobby_texts(app: App) -> list[str]:
    assert app.core is not None
    return [m.text for m in await app.core.message_log.read("lobby", limit=100)]


async def test_a_guest_renamed_keeps_its_spent_room_rate(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat, "FAKELAG_MAX", 0.0)  # over the rate: dropped at once, and said
    app = await make_server(irc={"guests": True}, limits=SLOW)
    gus = await RawIrc.connect(app)
    await gus.register("gus")
    gus.send("JOIN #lobby")
    await gus.expect(" 366 ")
    gus.send(*[f"PRIVMSG #lobby :m{i}" for i in range(BURST)])
    gus.send("PRIVMSG #lobby :one too many")
    await gus.expect("over the rate limit")
    assert await lobby_texts(app) == [f"m{i}" for i in range(BURST)]

    # a new name, in the room all along
    gus.send("NICK gus2")
    await gus.expect(" NICK gus2")
    gus.send("PRIVMSG #lobby :as gus2")
    line = await gus.expect(" 404 ")
    assert "over the rate limit" in line
    # a room left before the rename and joined again after it
    gus.send("PART #lobby")
    await gus.expect(" PART #lobby")
    gus.send("NICK gus3")
    await gus.expect(" NICK gus3")
    gus.send("JOIN #lobby")
    await gus.expect(" 366 ")
    gus.send("PRIVMSG #lobby :as gus3", "PING :done")
    await gus.expect("over the rate limit")
    await gus.expect("PONG")
    await gus.close()
    assert await lobby_texts(app) == [f"m{i}" for i in range(BURST)]

    # another guest has its own bucket in the room: the limit is per user, not per room
    tina = await RawIrc.connect(app)
    await tina.register("tina")
    tina.send("JOIN #lobby")
    await tina.expect(" 366 ")
    tina.send("PRIVMSG #lobby :hi", "PING :done")
    await tina.expect("PONG")
    await tina.close()
    assert (await lobby_texts(app))[-1] == "hi"
