"""A send to a room through the checked path (`Messaging.send`: HTTP, a WebSocket's send)
waits on its `holds` last, before its draft: the door's recheck of the login, which reads
the store whenever a revocation was applied on the node meanwhile (anyone's logout will
do). A mute, kick or ban acknowledged to the room's admin during that wait must stop it:
the send was drafted after the admin was answered. So must a room made moderated, or a
voice or admin right taken in a moderated one, on either path (`RoomSending._may_speak`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.core.conftest import Core
from tests.core.test_room_settings import hall
from torbit.core.models import Standing
from torbit.core.room_sending import SPEAK_TRIES
from torbit.core.roomsettings import SettingsChange
from torbit.errors import Forbidden, Overloaded


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
        if not answered:  # (a recheck after it: the door's again, nothing new)
            answered.append(await taking_away(core)[action]())

    with pytest.raises(Forbidden):
        await core.messaging.send("mallory", "hall", "after the admin was answered", holds=holds)
    assert answered  # the action was acknowledged before the send went on
    texts = [m.text for m in await core.log.read("hall")]
    assert texts == ["before"], texts


def speaking_taken_away(core: Core) -> dict[str, Callable[[], Awaitable[object]]]:
    m = core.moderation
    return {
        "moderate": lambda: m.configure("alice", "hall", SettingsChange(moderated=True)),
        "devoice": lambda: m.devoice("alice", "hall", "mallory"),
        "deop": lambda: m.deop("alice", "hall", "mallory"),
    }


async def speaker(core: Core, action: str) -> None:
    """mallory in #hall, speaking as the action's target: voiced or an admin of a moderated
    room, or a member of one not moderated yet."""
    await hall(core, "mallory")
    if action != "moderate":
        await core.moderation.configure("alice", "hall", SettingsChange(moderated=True))
        await (core.moderation.voice if action == "devoice" else core.moderation.op)(
            "alice", "hall", "mallory"
        )


@pytest.mark.parametrize("action", ["moderate", "devoice", "deop"])
async def test_a_room_made_moderated_or_a_voice_taken_while_a_send_is_held_stops_it(
    core: Core, action: str
) -> None:
    await speaker(core, action)
    await core.messaging.send("mallory", "hall", "before")
    answered: list[object] = []

    async def holds() -> None:
        if not answered:
            answered.append(await speaking_taken_away(core)[action]())

    with pytest.raises(Forbidden, match="moderated"):
        await core.messaging.send("mallory", "hall", "after the admin was answered", holds=holds)
    assert answered
    assert [m.text for m in await core.log.read("hall")] == ["before"]


@pytest.mark.parametrize("action", ["devoice", "deop"])
async def test_a_voice_taken_while_a_listening_send_reads_its_standing_stops_it(
    core: Core, action: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listening path's last wait is the store's answer about the sender's standing: one
    read just before the admin was answered, arriving after, is read again."""
    await speaker(core, action)
    room = await core.membership.room("hall")
    read = core.store.standing
    raced: list[object] = []

    async def standing(room_key: str, user_key: str) -> Standing:
        answer = await read(room_key, user_key)
        if user_key == "mallory" and not raced:
            raced.append(action)  # (the action reads standings too)
            await speaking_taken_away(core)[action]()
        return answer

    monkeypatch.setattr(core.store, "standing", standing)
    with pytest.raises(Forbidden, match="moderated"):
        await core.messaging.send_while_listening("mallory", room, ["after"])
    assert raced
    assert await core.log.read("hall") == []


async def test_a_change_elsewhere_while_held_costs_a_second_look_not_the_message(
    core: Core,
) -> None:
    await speaker(core, "devoice")  # mallory voiced in moderated #hall
    await core.moderation.create("bob", "elsewhere")
    before = core.membership.speaking_marks()
    changed: list[list[str]] = []

    async def holds() -> None:
        if not changed:
            _, tokens = await core.moderation.configure(
                "bob", "elsewhere", SettingsChange(topic_lock=False)
            )
            changed.append(tokens)

    await core.messaging.send("mallory", "hall", "sent", holds=holds)
    assert changed == [["-topic_lock"]] and core.membership.speaking_marks() != before
    assert [m.text for m in await core.log.read("hall")] == ["sent"]


async def test_rights_that_change_at_every_try_refuse_the_send_in_words(core: Core) -> None:
    await speaker(core, "devoice")
    flips: list[bool] = []

    async def holds() -> None:  # someone toggling the topic lock as fast as the send tries
        room = await core.membership.room("hall")
        flips.append(not room.settings.topic_lock)
        await core.moderation.configure("alice", "hall", SettingsChange(topic_lock=flips[-1]))

    with pytest.raises(Overloaded, match=r"rights in #hall changed while sending; send again"):
        await core.messaging.send("mallory", "hall", "never", holds=holds)
    assert len(flips) == SPEAK_TRIES
    assert await core.log.read("hall") == []
