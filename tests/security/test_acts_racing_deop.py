"""A room admin's act under way while the owner takes the admin's rights away on another door.

An act (a kick, a ban, a topic over HTTP) read the admin's role and then wrote: a `/deop` on
telnet landing between the two was answered to the owner ("took adm's admin rights"), and the
act was written after it all the same, by someone no longer an admin: carol kicked or banned,
the topic changed, each answered 204/200. Now an act takes the actor's turn in the room
(`Membership.role_turns`, shared with its other acts) and a deop, kick or ban of it takes it
alone: the deop waits for the acts under way (checked before it began, so they stand) and
writes after them, and an act begun after it finds the role gone.

The act is held at the store's write (as test_read_while_put_out.py holds a read) while the
owner deops; it goes on once the deop has either written (the old order) or waits for it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.helpers.held_calls import HeldCall
from tests.helpers.http import register
from tests.security.conftest import OWNER, basic_header, http_from, telnet_login
from torbit.app import App

WRITES = {"kick": "expel", "ban": "expel", "topic": "update_room"}


async def act(c: httpx.AsyncClient, verb: str) -> httpx.Response:
    adm = basic_header("adm")
    if verb == "kick":
        return await c.delete("/api/v1/rooms/hall/members/carol", headers=adm)
    if verb == "ban":
        return await c.put("/api/v1/rooms/hall/bans/carol", headers=adm)
    return await c.patch("/api/v1/rooms/hall", json={"topic": "taken over"}, headers=adm)


@pytest.mark.parametrize("verb", list(WRITES))
async def test_a_deop_answered_comes_after_the_admins_acts_under_way(
    server: App, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    async with http_from(server) as c:
        await register(c, "owner", "adm", "carol")
        for name in ("owner", "adm", "carol"):
            r = await c.put(f"/api/v1/rooms/hall/members/{name}", headers=basic_header(name))
            assert r.status_code == 200, r.text
        r = await c.put("/api/v1/rooms/hall/admins/adm", headers=basic_header("owner"))
        assert r.status_code == 204, r.text
    owner = await telnet_login(server, "owner", address=OWNER)
    owner.send("/join hall")
    await owner.expect(r"^\* (back )?in #hall|you are (already )?in #hall")
    assert server.core is not None
    store, membership = server.core.store, server.core.membership
    order: list[str] = []
    held = HeldCall(monkeypatch, store, WRITES[verb], once=True, then=lambda: order.append(verb))
    set_room_admin = store.set_room_admin

    async def deop(*args: Any, **kwargs: Any) -> Any:
        order.append("deop")
        return await set_room_admin(*args, **kwargs)

    monkeypatch.setattr(store, "set_room_admin", deop)

    def deop_written_or_waiting() -> bool:
        turns = getattr(membership, "role_turns", None)  # absent before the fix
        turn = turns.held.get(("hall", "adm")) if turns is not None else None
        return "deop" in order or (turn is not None and turn.users > 1)

    async with http_from(server) as c:
        acting = asyncio.create_task(act(c, verb))
        await held.until_reached()  # adm's role read: the act is at its write
        owner.send("/deop adm")
        async with asyncio.timeout(30):
            while not deop_written_or_waiting():
                await asyncio.sleep(0.01)
        held.let_go()
        r = await acting
        assert r.status_code in (200, 204), r.text  # checked before the deop began: it stands
        await owner.expect(r"^\* owner took adm's admin rights in #hall")
        assert order == [verb, "deop"]
        r = await act(c, verb)  # after the deop's answer: refused
        assert r.status_code == 403, r.text
    await owner.close()


async def test_admins_acting_on_each_other_at_once_are_all_answered(server: App) -> None:
    """The turns are taken in one order: two admins deopping and kicking each other at once
    (refused: the same rank) wait for each other's turn, never for ever."""
    async with http_from(server) as c:
        await register(c, "owner", "ann", "ben")
        for name in ("owner", "ann", "ben"):
            r = await c.put(f"/api/v1/rooms/hall/members/{name}", headers=basic_header(name))
            assert r.status_code == 200, r.text
        for name in ("ann", "ben"):
            r = await c.put(f"/api/v1/rooms/hall/admins/{name}", headers=basic_header("owner"))
            assert r.status_code == 204, r.text
        acts = [
            c.request(method, f"/api/v1/rooms/hall/{path}/{them}", headers=basic_header(me))
            for _ in range(5)
            for me, them in (("ann", "ben"), ("ben", "ann"))
            for method, path in (("DELETE", "admins"), ("DELETE", "members"), ("PUT", "bans"))
        ]
        async with asyncio.timeout(60):
            answers = await asyncio.gather(*acts)
        assert {r.status_code for r in answers} == {403}, [r.text for r in answers]
