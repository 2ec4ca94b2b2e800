"""A password change keeps the exceptions that name the account (`+e`, `+I`: `bob!*@*`):
the same person holds it. Only a deletion lifts them (docs/security.md), so that whoever
takes the name next does not inherit them. A password change used to lift them too, in
every room, with no audit entry, while each node kept its copy until the room's masks
changed again; then the member was banned by the address mask and kicked (hostile probe,
stop 44)."""

from __future__ import annotations

from tests.helpers.http import change_password, register
from tests.helpers.moderation import api, create_room
from torbit.app import App

NEW = "another-pw-123"


async def test_a_password_change_keeps_the_exceptions_naming_the_account(server: App) -> None:
    async with api(server, "owner") as owner, api(server, "bob") as bob:
        await register(owner, "owner", "bob")
        await create_room(owner, "den", private=True)
        await create_room(owner, "hall")
        for room, kind in (("den", "invite"), ("hall", "ban")):
            r = await owner.put(
                f"/api/v1/rooms/{room}/exceptions", params={"mask": "bob!*@*", "kind": kind}
            )
            assert r.status_code in (200, 201, 204), r.text
        assert (await bob.put("/api/v1/rooms/hall/members/bob")).status_code in (200, 201)
        r = await owner.put("/api/v1/rooms/hall/banmasks", params={"mask": "*!*@127.0.0.1"})
        assert r.status_code in (200, 201, 204), r.text
        before = {
            room: (await owner.get(f"/api/v1/rooms/{room}/bans")).json() for room in ("den", "hall")
        }

        assert (await change_password(bob, NEW)).status_code == 204

        after = {
            room: (await owner.get(f"/api/v1/rooms/{room}/bans")).json() for room in ("den", "hall")
        }
        assert after == before
        assert "bob!*@*" in str(after["den"]) and "bob!*@*" in str(after["hall"])
    async with api(server, "bob") as bob:
        bob.auth = ("bob", NEW)
        assert (await bob.get("/api/v1/rooms/hall/messages")).status_code == 200
        assert (await bob.put("/api/v1/rooms/den/members/bob")).status_code in (200, 201)
