"""One's ignore list (`GET /api/v1/me/ignores`, IRC `SILENCE`, telnet `/ignored`) is up to
`limits.ignores_per_user` store rows, and was read outside the read budget every other list
of names pays: as often as one asked, on every door. It is charged as a roster now (ten
names a message), the list's known size taken first so lists asked in parallel share."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import ServerFactory
from tests.helpers.at_once import answered, asked_at_once
from tests.helpers.http import PASSWORD, basic, error_of, http_client
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import command, telnet
from torbit.app import App
from torbit.core.models import User

BURST = 6
SLOW = {"read_rate": 0.001, "read_burst": BURST, "ignore_rate": 0}
IGNORED = 30  # three messages' worth a read


async def ignoring(make_server: ServerFactory, *names: str) -> App:
    app = await make_server(limits=SLOW)
    assert app.core is not None
    now = datetime.now(UTC)
    for i in range(IGNORED):
        await app.core.store.create_user(User(f"troll{i}", "x", now))
    for name in names:
        await app.core.accounts.register(name, PASSWORD)
        for i in range(IGNORED):
            await app.core.ignores.ignore(name, f"troll{i}")
    return app


async def test_an_ignore_list_comes_out_of_the_read_budget_on_every_door(
    make_server: ServerFactory,
) -> None:
    app = await ignoring(make_server, "h", "i", "t")
    async with http_client(app) as c:
        for _ in range(BURST // 3):
            r = await c.get("/api/v1/me/ignores", auth=basic("h"))
            assert r.status_code == 200 and len(r.json()["users"]) == IGNORED, r.text
        r = await c.get("/api/v1/me/ignores", auth=basic("h"))  # before: 200, always
        assert "too many messages read" in error_of(r, 429)
        assert r.headers.get("Retry-After")

    irc = await RawIrc.connect(app)
    irc.send(f"PASS i:{PASSWORD}")
    await irc.register("i")
    for _ in range(BURST // 3):
        irc.send("SILENCE")
        await irc.expect(" 272 ")  # end of the list
    irc.send("SILENCE")
    assert (await irc.expect(" 263 ")).endswith(
        " 263 i SILENCE :Please wait a while and try again."
    )
    assert len([line for line in irc.lines if " 271 i " in line]) == IGNORED * (BURST // 3)
    await irc.close()

    t = await telnet(app, "t")
    for _ in range(BURST // 3):
        await command(t, "/ignored", r"you ignore: troll0")
    await command(t, "/ignored", r"too many messages read")
    await t.close()


async def test_ignore_lists_asked_in_parallel_share_the_budget(make_server: ServerFactory) -> None:
    """Each would have taken one message's worth and paid the rest after: all 30 answered.
    Now the list's size is taken first: two at most on a budget of six."""
    app = await ignoring(make_server, "h")
    async with http_client(app) as c:
        ok = answered(await asked_at_once(c, "/api/v1/me/ignores", auth=basic("h")))
    assert 1 <= len(ok) <= 2, len(ok)  # before: 30
    for r in ok:
        assert len(r.json()["users"]) == IGNORED, r.text
