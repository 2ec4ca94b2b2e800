"""An ignore list one account can grow: the ignore rate (0.2/s) alone let an account add
17,000 users a day, each a row in the store and an entry of the set every session of the
user keeps on every node, while IRC advertised SILENCE=1000. The list now stops at
`limits.ignores_per_user` on every door (HTTP, telnet, IRC SILENCE), parallel adds included,
with a clear answer; adding someone already listed, and removing, still work once it is full."""

from __future__ import annotations

import asyncio

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, command, services, telnet
from torbit.app import App

BOUND = 3
TARGETS = ["tina", "uma", "vera", "xena", "yara", "zoe", "nora", "olga"]


async def _bounded(make_server: ServerFactory) -> App:
    # the rate is lifted so that only the bound can refuse an add
    app = await make_server(limits={"ignores_per_user": BOUND, "ignore_rate": 0})
    for name in ["mallory", *TARGETS]:
        await services(app).accounts.register(name, PASSWORD, by_admin=True)
    return app


async def test_an_ignore_list_stops_at_its_bound_on_every_door(
    make_server: ServerFactory,
) -> None:
    app = await _bounded(make_server)
    async with api(app, "mallory") as http:
        for name in ("tina", "uma"):
            assert (await http.put(f"/api/v1/me/ignores/{name}")).status_code == 204
        mallory = await telnet(app, "mallory")
        await command(mallory, "/ignore vera", "you now ignore vera")

        r = await http.put("/api/v1/me/ignores/xena")
        assert error_of(r, 409, "list_full") == f"your ignore list is full ({BOUND} users)"
        line = await command(mallory, "/ignore xena", r"^! |you now ignore")
        assert line == f"! your ignore list is full ({BOUND} users)"
        irc = await RawIrc.connect(app)
        irc.send(f"PASS mallory:{PASSWORD}")
        irc.send("NICK mallory", "USER mallory 0 * :m", "CAP END")
        assert f" SILENCE={BOUND} " in await irc.expect(" SILENCE=")
        await irc.expect(" 376 ")
        irc.send("SILENCE +xena")
        assert (await irc.expect(" 511 ")).endswith(
            " 511 mallory xena!*@* :Your silence list is full"
        )

        # one already listed is no new entry; a removal makes room again
        assert (await http.put("/api/v1/me/ignores/tina")).status_code == 204
        assert (await http.delete("/api/v1/me/ignores/uma")).status_code == 204
        irc.send("SILENCE +xena")
        await irc.expect(" SILENCE +xena!*@*")
        r = await http.get("/api/v1/me/ignores")
        assert sorted(r.json()["users"]) == ["tina", "vera", "xena"]
        await irc.close()


async def test_parallel_ignores_do_not_pass_the_bound_together(
    make_server: ServerFactory,
) -> None:
    app = await _bounded(make_server)
    async with api(app, "mallory") as http:
        answers = await asyncio.gather(
            *(http.put(f"/api/v1/me/ignores/{name}") for name in TARGETS)
        )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [204] * BOUND + [409] * (len(TARGETS) - BOUND)
        assert len(await services(app).ignores.ignored("mallory")) == BOUND
