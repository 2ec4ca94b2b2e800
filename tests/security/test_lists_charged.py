"""A room's ban list (`GET .../bans`, IRC `MODE #room b`, telnet `/bans`), its audit log
(`GET .../audit?limit=1000`, telnet `/audit N`) and one's own rooms with their member counts
(`GET /api/v1/me/rooms`) were read outside the read budget that every other list of names
pays: as often as one asked, 30 at once (a probe, stop 45). They are charged as a roster now
(ten entries a message); the audit and one's rooms take what they will read first, so lists
asked for in parallel share the budget."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import ServerFactory
from tests.helpers.at_once import answered, asked_at_once
from tests.helpers.http import PASSWORD, basic, error_of, http_client
from torbit.app import App
from torbit.core.models import User

SLOW = {"read_rate": 0.001, "read_burst": 5, "moderation_rate": 0}
BANNED = 30  # three messages' worth a read


async def banned_room(make_server: ServerFactory) -> App:
    app = await make_server(limits=SLOW)
    assert app.core is not None
    await app.core.accounts.register("owner", PASSWORD)
    await app.core.moderation.create("owner", "den")
    now = datetime.now(UTC)
    for i in range(BANNED):
        user = await app.core.store.create_user(User(f"troll{i}", "x", now))
        await app.core.moderation.ban("owner", "den", user.name)
    return app


async def test_a_ban_list_comes_out_of_the_read_budget(make_server: ServerFactory) -> None:
    app = await banned_room(make_server)
    async with http_client(app) as c:
        statuses = []
        for _ in range(4):
            r = await c.get("/api/v1/rooms/den/bans", auth=basic("owner"))
            statuses.append(r.status_code)
            if r.status_code == 200:
                assert len(r.json()["users"]) == BANNED, r.text
        # 3 of 5, then 2 granted and 3 paid (one owed): refused until repaid; before: 200s
        assert statuses == [200, 200, 429, 429], statuses
        r = await c.get("/api/v1/rooms/den/bans", auth=basic("owner"))
        assert "too many messages read" in error_of(r, 429)


async def test_audits_asked_in_parallel_share_the_budget(make_server: ServerFactory) -> None:
    app = await banned_room(make_server)  # 30 bans in the audit log
    async with http_client(app) as c:
        audit = "/api/v1/rooms/den/audit"
        ok = answered(await asked_at_once(c, audit, params={"limit": 1000}, auth=basic("owner")))
    assert 1 <= len(ok) <= 2, len(ok)  # before: 30


async def test_ones_rooms_asked_in_parallel_share_the_budget(make_server: ServerFactory) -> None:
    """`GET /api/v1/me/rooms` reads each room with its member count (a query each): free
    before, 30 of 30 answered at once. Paid as a roster of as many names now, taken first."""
    app = await make_server(limits={**SLOW, "create_rate": 0})
    assert app.core is not None
    await app.core.accounts.register("owner", PASSWORD)
    for i in range(BANNED):  # a member of each
        await app.core.moderation.create("owner", f"den{i}")
    async with http_client(app) as c:
        ok = answered(await asked_at_once(c, "/api/v1/me/rooms", auth=basic("owner")))
    assert 1 <= len(ok) <= 2, len(ok)  # before: 30
    for r in ok:
        assert len(r.json()["rooms"]) >= BANNED, r.text
