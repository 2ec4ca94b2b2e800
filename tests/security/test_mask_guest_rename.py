"""A guest's NICK change against a room's ban masks (attack4). Masks are matched at a join
and when one is set; a guest in the room under a nick no mask matches then took one a mask
bars (`NICK evil1` beside `evil*!*@*`) and went on talking in the room under it: the mask was
never asked again. A guest may not take a nick that a mask of a room it is in bars (432,
saying so), stays in the room under its old nick, and the room never sees the barred one.
The room's admins (a guest founding a room is its first admin) are exempt, as at a join."""

from __future__ import annotations

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, create_room
from torbit.app import App

MASK = "evil*!*@*"


@pytest.fixture
async def hall(make_server: ServerFactory) -> App:
    app = await make_server(irc={"guests": True})
    async with api(app, "alice") as a:
        await register(a, "alice")
        await create_room(a, "hall")
        r = await a.put("/api/v1/rooms/hall/banmasks", params={"mask": MASK})
        assert r.status_code == 204, r.text
    return app


async def guest_in(app: App, nick: str, channel: str) -> RawIrc:
    irc = await RawIrc.connect(app)
    await irc.register(nick)
    irc.send(f"JOIN {channel}")
    await irc.expect(f" 366 {nick} {channel} ")
    return irc


async def answer_to(irc: RawIrc, line: str) -> list[str]:
    irc.lines.clear()
    irc.send(line, "PING :done")
    await irc.expect("PONG")
    return irc.lines[:-1]


async def members(app: App) -> list[str]:
    async with api(app, "alice") as a:
        r = await a.get("/api/v1/rooms/hall/members")
        assert r.status_code == 200, r.text
        names: list[str] = r.json()["members"]
        return names


async def test_a_guest_in_the_room_cannot_take_a_nick_a_mask_bars(hall: App) -> None:
    guest = await guest_in(hall, "nice", "#hall")
    answer = await answer_to(guest, "NICK evil1")
    assert not [line for line in answer if " NICK " in line], answer
    assert any(" 432 nice evil1 " in line and "#hall" in line for line in answer), answer
    assert "nice" in await members(hall) and "evil1" not in await members(hall)
    # a nick no mask bars is still the guest's to take
    answer = await answer_to(guest, "NICK kind")
    assert any(" NICK " in line and "kind" in line for line in answer), answer
    await guest.close()


async def test_a_guest_admin_of_its_own_room_may_take_it(hall: App) -> None:
    """Exempt as at a join: the founder of #den (its admin) bans the mask there and may
    still take a nick it bars."""
    guest = await guest_in(hall, "nice", "#den")
    guest.send(f"MODE #den +b {MASK}")
    await guest.expect(f"MODE #den +b {MASK}")
    answer = await answer_to(guest, "NICK evil1")
    assert any(" NICK " in line and "evil1" in line for line in answer), answer
    await guest.close()
