"""A send to a room through the checked path (`Messaging.send`: HTTP, a WebSocket's send)
waits on its `holds` last, before its draft: the door's recheck of the login, which reads
the store whenever a revocation was applied on the node meanwhile (anyone's logout will
do). A mute, kick or ban acknowledged to the room's admin during that wait must stop it:
the send was drafted after the admin was answered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.core.conftest import Core
from tests.core.test_room_settings import hall
from torbit.errors import Forbidden


def taking_away(core: Core) -> dict[str, Callable[[], Awaitable[object]]]:
    m = core.moderation
    return {
        "mute": lambda: m.mute("alice", "hall", "mallory", 5),
        "kick": lambda: m.kick("alice", "hall", "mallory"),
        "ban": lambda: m.ban("alice", "hall", "mallory"),
    }


@pytest.mark.parametrize("action", ["mute", "kick", "ban"])
async def test_a_right_taken_away_while_a_send_is_held_stops_it(core: Core, action: str) -> None:
    await hall(core, "mallory")
    await core.messaging.send("mallory", "hall", "before")
    answered: list[object] = []

    async def holds() -> None:  # the door's recheck; the admin is answered meanwhile
        answered.append(await taking_away(core)[action]())

    with pytest.raises(Forbidden):
        await core.messaging.send("mallory", "hall", "after the admin was answered", holds=holds)
    assert answered  # the action was acknowledged before the send went on
    texts = [m.text for m in await core.log.read("hall")]
    assert texts == ["before"], texts
