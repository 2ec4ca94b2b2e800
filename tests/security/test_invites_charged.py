"""A user's list of pending invitations (`GET /api/v1/me/invites`, telnet `/invites`, IRC
`INVITE` alone) reads up to `limits.invites_per_user` invitations and a room each, and was
read outside the read budget that every other list of names pays (attack9's leftover): as
often as one asked, on every door. It is charged as a roster is now (ten a message), with
the refusal each door gives a read past the budget."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.at_once import answered, asked_at_once
from tests.helpers.http import PASSWORD, basic, error_of, http_client
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import command, telnet

BURST = 5
# refills one message every 1,000 s: nothing comes back during the test
SLOW = {"read_rate": 0.001, "read_burst": BURST}


async def test_the_list_of_invitations_comes_out_of_the_read_budget(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits=SLOW)
    assert app.core is not None
    for name in ("owner", "v1", "v2", "v3"):
        await app.core.accounts.register(name, PASSWORD)
    await app.core.moderation.create("owner", "den", private=True)
    for name in ("v1", "v2", "v3"):
        await app.core.moderation.invite("owner", "den", name)

    async with http_client(app) as c:
        for _ in range(BURST):
            r = await c.get("/api/v1/me/invites", auth=basic("v1"))
            assert r.status_code == 200 and len(r.json()["invitations"]) == 1, r.text
        r = await c.get("/api/v1/me/invites", auth=basic("v1"))
        assert "too many messages read" in error_of(r, 429)
        assert r.headers.get("Retry-After")

    irc = await RawIrc.connect(app)
    irc.send(f"PASS v2:{PASSWORD}")
    await irc.register("v2")
    for _ in range(BURST):
        irc.send("INVITE")
        await irc.expect(" 337 ")
    irc.send("INVITE")
    assert (await irc.expect(" 263 ")).endswith(
        " 263 v2 INVITE :Please wait a while and try again."
    )
    assert len([line for line in irc.lines if " 336 v2 #den" in line]) == BURST
    await irc.close()

    v3 = await telnet(app, "v3")
    for _ in range(BURST):
        await command(v3, "/invites", r"#den from owner")
    await command(v3, "/invites", r"too many messages read")
    await v3.close()


async def test_lists_asked_in_parallel_share_the_budget(make_server: ServerFactory) -> None:
    """Each list took one message's worth before reading and paid the rest after: 30 lists
    of 25 invitations (three messages each) asked at once were all answered on a budget of
    30. Now the most a list may read (`invites_per_user`) is taken first: ten at most."""
    app = await make_server(
        limits={
            "read_rate": 0.001,
            "read_burst": 30,
            "invites_per_user": 30,
            "invite_rate": 0,
            "create_rate": 0,
        }
    )
    assert app.core is not None
    for name in ("owner", "v1"):
        await app.core.accounts.register(name, PASSWORD)
    for i in range(25):
        await app.core.moderation.create("owner", f"den{i}", private=True)
        await app.core.moderation.invite("owner", f"den{i}", "v1")
    async with http_client(app) as c:
        ok = answered(await asked_at_once(c, "/api/v1/me/invites", auth=basic("v1")))
    assert 1 <= len(ok) <= 10, len(ok)  # before: 30
    for r in ok:
        assert len(r.json()["invitations"]) == 25, r.text
