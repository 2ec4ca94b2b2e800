"""The prefixes a JOIN's NAMES shows (`@` admins, `+` voiced) come from the node's copy of
the room's roles (core/roomroles.py), not from two store queries per JOIN: the voiced one
walks every membership of the room, so N joining one room cost O(N²) rows. Queries are
counted (the store's own methods, wrapped), never timed; and every way a role changes
shows in the next NAMES: MODE +v/-v/+o/-o, a kick, a leave and a return, a guest's rename."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.helpers.irc import RawIrc
from tests.irc.test_names_roster import guest, names_on_join
from torbit.app import App


def count_role_queries(app: App, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The store's reads of a room's admins and voiced members, as the core makes them."""
    assert app.core is not None
    store = app.core.store
    seen: Counter[str] = Counter()
    for method in ("list_room_admins", "list_voiced"):
        real: Callable[[str], Awaitable[list[str]]] = getattr(store, method)

        async def counted(
            room_key: str, real: Callable[[str], Awaitable[list[str]]] = real, method: str = method
        ) -> list[str]:
            seen[method] += 1
            return await real(room_key)

        monkeypatch.setattr(store, method, counted)
    return seen


async def names_of(raw: RawIrc, nick: str, channel: str) -> list[str]:
    """A NAMES query's entries (353 lines up to the 366)."""
    raw.send(f"NAMES {channel}")
    start = len(raw.lines)
    await raw.expect(f" 366 {nick} {channel} ")
    lines = [line for line in raw.lines[start:-1] if f" 353 {nick} " in line]
    return [e for line in lines for e in line.split(f" {channel} ", 1)[1].lstrip(":").split()]


async def test_joins_read_the_rooms_roles_once_not_per_joiner(
    app: App, monkeypatch: pytest.MonkeyPatch, cleanup: list[Any]
) -> None:
    seen = count_role_queries(app, monkeypatch)
    nicks = [f"join{i:02d}" for i in range(12)]
    for i, nick in enumerate(nicks):
        raw = await guest(app, nick)
        cleanup.append(raw)
        # join00 made the room: a guest's room, its founder its first admin
        assert await names_on_join(raw, nick, "#big") == ["@join00", *nicks[1 : i + 1]]
    # read once, for join00's NAMES (after its admin right was told by RolesChanged); on
    # main every JOIN read both: 12 of each
    assert seen["list_voiced"] == seen["list_room_admins"] == 1, seen


async def test_a_role_change_shows_in_the_next_names(
    app: App, monkeypatch: pytest.MonkeyPatch, cleanup: list[Any]
) -> None:
    seen = count_role_queries(app, monkeypatch)
    owner = await guest(app, "chief")
    cleanup.append(owner)
    assert await names_on_join(owner, "chief", "#roles") == ["@chief"]
    bob = await guest(app, "bob")
    cleanup.append(bob)
    assert await names_on_join(bob, "bob", "#roles") == ["bob", "@chief"]
    reads = seen["list_voiced"]

    async def after(mode: str, expected: list[str]) -> None:
        owner.send(f"MODE #roles {mode}")
        await bob.expect(f" MODE #roles {mode}")
        assert await names_of(bob, "bob", "#roles") == expected
        assert await names_of(bob, "bob", "#roles") == expected  # the copy, read once

    await after("+v bob", ["+bob", "@chief"])
    await after("+o bob", ["@bob", "@chief"])
    await after("-o bob", ["+bob", "@chief"])
    await after("-v bob", ["bob", "@chief"])
    assert seen["list_voiced"] == reads + 4, seen  # one read after each change, no more

    owner.send("MODE #roles +v bob")
    await bob.expect(" MODE #roles +v bob")
    owner.send("KICK #roles bob :out")
    await bob.expect(" KICK #roles bob ")
    bob.send("JOIN #roles")  # the voice went with the membership
    await bob.expect(" JOIN #roles")
    assert await names_of(bob, "bob", "#roles") == ["bob", "@chief"]

    owner.send("MODE #roles +v bob")
    await bob.expect(" MODE #roles +v bob")
    bob.send("PART #roles")
    await bob.expect(" PART #roles")
    assert await names_of(owner, "chief", "#roles") == ["@chief"]
    assert await names_on_join(bob, "bob", "#roles") == ["bob", "@chief"]


async def test_a_renamed_guest_keeps_its_admin_prefix(
    app: App, cleanup: list[Any], accounts: Callable[..., Awaitable[None]]
) -> None:
    """A guest's NICK moves its admin right to the new name (core/guests.py, `rename`): the
    room's copy of its roles is read again, so the next NAMES shows the new name with `@`."""
    founder = await guest(app, "maker")
    cleanup.append(founder)
    assert await names_on_join(founder, "maker", "#made") == ["@maker"]
    other = await guest(app, "other")
    cleanup.append(other)
    assert await names_on_join(other, "other", "#made") == ["@maker", "other"]
    founder.send("NICK shaper", "PING :renamed")  # answered once the NICK is done
    await founder.expect(" PONG ")
    assert await names_of(other, "other", "#made") == ["other", "@shaper"]


async def test_the_http_member_list_reads_voices_from_the_node_copy(
    app: App,
    accounts: Callable[..., Awaitable[None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GET .../members names the voiced members from the node's copy too: on main each read
    walked the room's memberships (`list_voiced`), 5 for 5 reads; a voice given or taken
    shows in the next read."""
    from tests.helpers.http import bearer, http_client, login

    await accounts("vera", "walt")
    seen = count_role_queries(app, monkeypatch)
    async with http_client(app) as client:
        vera, walt = bearer(await login(client, "vera")), bearer(await login(client, "walt"))
        assert (await client.post("/api/v1/rooms", json={"name": "den"}, headers=vera)).is_success
        assert (await client.put("/api/v1/rooms/den/members/walt", headers=walt)).is_success

        async def voiced() -> list[str]:
            r = await client.get("/api/v1/rooms/den/members", headers=walt)
            return list(r.json()["voiced"])

        for _ in range(5):
            assert await voiced() == []
        assert seen["list_voiced"] <= 1, seen
        assert (await client.put("/api/v1/rooms/den/voices/walt", headers=vera)).is_success
        assert await voiced() == ["walt"]
        assert (await client.delete("/api/v1/rooms/den/voices/walt", headers=vera)).is_success
        assert await voiced() == []
