"""GET /api/v1/me/rooms reads the caller's own memberships (store port `rooms_with_counts`):
tried as an attacker would, it names no room the caller is not in (another's private room, a
room they were kicked or banned from or left), counts members as they are after each of those,
and a token still open after a password change or the account's deletion reads nothing."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import basic, bearer, change_password, login, register
from tests.helpers.moderation import api, create_room


async def test_my_rooms_lists_own_memberships_with_true_counts(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"create_rate": 0, "join_rate": 0})
    async with api(app, "owner") as owner, api(app, "bob") as bob:
        await register(owner, "owner", "bob", "carol")
        for name, private in (("open", False), ("hush", True), ("kicked", False), ("gone", False)):
            await create_room(owner, name, private=private)
        await create_room(bob, "left", private=True)
        for room in ("open", "kicked", "gone"):
            r = await bob.put(f"/api/v1/rooms/{room}/members/bob")
            assert r.status_code in (200, 201), r.text
        r = await owner.put("/api/v1/rooms/open/members/carol", auth=basic("carol"))
        assert r.status_code in (200, 201), r.text
        assert (await owner.delete("/api/v1/rooms/kicked/members/bob")).status_code == 204
        assert (await owner.put("/api/v1/rooms/gone/bans/bob")).status_code == 204
        assert (await bob.delete("/api/v1/rooms/left/members/bob")).status_code == 204

        async def mine(client: httpx.AsyncClient) -> dict[str, int]:
            r = await client.get("/api/v1/me/rooms")
            assert r.status_code == 200, r.text
            return {room["name"]: room["members"] for room in r.json()["rooms"]}

        assert await mine(bob) == {"open": 3}  # not hush, kicked, gone nor left
        assert await mine(owner) == {"open": 3, "hush": 1, "kicked": 1, "gone": 1}

        # a token still open after the password changed, or after the account went
        token = await login(bob, "bob")
        assert (await change_password(bob, "another-pw-123")).status_code == 204
        r = await bob.get("/api/v1/me/rooms", headers=bearer(token), auth=None)
        assert r.status_code == 401
        token = await login(owner, "carol")
        assert app.core is not None
        await app.core.accounts.delete("carol")
        r = await owner.get("/api/v1/me/rooms", headers=bearer(token), auth=None)
        assert r.status_code == 401
        assert await mine(owner) == {"open": 2, "hush": 1, "kicked": 1, "gone": 1}
