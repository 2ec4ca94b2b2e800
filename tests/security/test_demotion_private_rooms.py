"""A server admin demoted (`torbit user set-admin NAME --revoke`) kept the private rooms they
had entered only by that right (attack55, "with the session left open after the right was
taken away"). The revocation closed their sessions, but the memberships stayed, and a member
is admitted as such: logged in again, carol read and wrote #den, a private room that would
no longer let her in (200 and 201 over HTTP, her IRC JOIN went through).

Now the demotion ends every membership of a private room joined by the right alone (kept on
the membership at the join: an invitation is used up by it), unless the room would admit
her now: public rooms, rooms she owns, is a room admin of, was invited to or whose invite
exceptions name her account stay. The room is told as of a kick by the server's operator
(IRC: a KICK from the server), the audit log says why; a join racing the demotion, held at
the store's write or sent at the same instant, never leaves her in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import CHEAP_ARGON2, ServerFactory
from tests.helpers.cli import cli
from tests.helpers.held_calls import HeldCall
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import Ws, api, audit, create_room, services
from tests.security.conftest import telnet_login
from tests.security.test_mask_deop import cli_accounts
from torbit.app import App
from torbit.core.feedmarks import ALIVE_S
from torbit.core.revocation import FEED_EVENT, Revocations

DEMOTED = "no longer a server admin"  # the kick's reason (core/demotion.py)
KICKED = ("the server's operator", "carol", DEMOTED)


async def irc_in(app: App, nick: str, room: str) -> RawIrc:
    irc = await RawIrc.connect(app)
    irc.send(f"PASS {nick}:{PASSWORD}")
    await irc.register(nick)
    irc.send(f"JOIN #{room}")
    await irc.expect(f" 366 {nick} #{room} ")
    return irc


async def demote(app: App, name: str) -> None:
    """As `torbit user set-admin NAME --revoke`: another process sharing only the store."""
    cli = cli_accounts(app)
    try:
        await cli.set_admin(name, False)
    finally:
        cli.hashing.close()


async def join(app: App, name: str, room: str) -> int:
    async with api(app, name) as c:
        return (await c.put(f"/api/v1/rooms/{room}/members/{name}")).status_code


async def kicks(app: App, room: str) -> list[tuple[str, str | None, str]]:
    return [(e.actor, e.target, e.detail) for e in await audit(app, room) if e.action == "kick"]


@pytest.fixture
async def rooms(make_server: ServerFactory) -> App:
    """alice owns the private rooms #den (carol in by the right alone), #inv (carol invited,
    then joined), #adm (joined by the right, then made a room admin), #mask (joined by the
    right; an invite exception names her account), #addr (joined from an address one of
    its invite exceptions matches), #was (joined while it was public) and the public #hall; carol owns the private #own. bob is in #den."""
    server = await make_server(limits={"create_rate": 0, "join_rate": 0, "moderation_rate": 0})
    async with api(server, "alice") as a:
        await register(a, "alice", "bob", "carol")
        for name in ("den", "inv", "adm", "mask", "addr", "was"):
            await create_room(a, name, private=name != "was")
        here = {"mask": "*!*@127.0.0.1", "kind": "invite"}  # the address she joins from
        assert (await a.put("/api/v1/rooms/addr/exceptions", params=here)).status_code == 204
        await create_room(a, "hall")
        r = await a.post("/api/v1/rooms/inv/invites", json={"user": "carol"})
        assert r.status_code == 204, r.text
        r = await a.post("/api/v1/rooms/den/invites", json={"user": "bob"})
        assert r.status_code == 204, r.text
    await services(server).accounts.set_admin("carol", True)
    for room in ("den", "inv", "adm", "mask", "addr", "was", "hall"):
        assert await join(server, "carol", room) == 200
    assert await join(server, "bob", "den") == 200
    async with api(server, "carol") as c:
        await create_room(c, "own", private=True)
    store = services(server).store
    assert await store.set_admin("carol", False)  # for a while: no owner outranks one
    async with api(server, "alice") as a:
        assert (await a.put("/api/v1/rooms/adm/admins/carol")).status_code == 204
        r = await a.put(
            "/api/v1/rooms/mask/exceptions", params={"mask": "carol!*@*", "kind": "invite"}
        )
        assert r.status_code == 204, r.text
        r = await a.patch("/api/v1/rooms/was", json={"private": True})
        assert r.status_code == 200, r.text
    assert await store.set_admin("carol", True)
    return server


async def test_a_demoted_admin_leaves_the_private_rooms_held_by_the_right_alone(
    rooms: App,
) -> None:
    store = services(rooms).store
    bob = await irc_in(rooms, "bob", "den")
    carol = await irc_in(rooms, "carol", "den")
    alice = await telnet_login(rooms, "alice")
    alice.send("/join den")
    await alice.expect(r"you are in #den")
    carol_ws = await Ws.open(rooms, "carol")
    await carol_ws.subscribe("den")
    await demote(rooms, "carol")
    # the room is told as of a kick, from the server (no user did it), and so is carol
    kick = await bob.expect(" KICK #den carol ")
    assert kick.startswith(":") and "!" not in kick.split()[0], kick
    assert kick.endswith(f":{DEMOTED}"), kick
    await carol.expect(" KICK #den carol ")
    await alice.expect(rf"carol was kicked from #den by the server's operator \({DEMOTED}\)")
    assert "login revoked" in await carol.expect("ERROR")
    kicked = await carol_ws.next("notice", "you were kicked from #den")
    assert kicked["text"].endswith(f"by the server's operator ({DEMOTED})"), kicked
    await carol_ws.next("notice", "you are no longer a server admin")
    await carol_ws.close()
    assert await kicks(rooms, "den") == [KICKED]
    kept = ["addr", "adm", "hall", "inv", "mask", "own", "was"]
    assert sorted(await store.rooms_of("carol")) == kept
    for room in kept:
        assert await kicks(rooms, room) == []
    # logged in again: #den is a private room she may not know of, on every door
    async with api(rooms, "carol") as c:
        assert (await c.get("/api/v1/rooms/den/messages")).status_code == 404
        r = await c.post("/api/v1/rooms/den/messages", json={"text": "still here"})
        assert r.status_code == 404, r.text
        assert (await c.put("/api/v1/rooms/den/members/carol")).status_code == 404
        assert (await c.get("/api/v1/rooms/inv/messages")).status_code == 200
    again = await RawIrc.connect(rooms)
    again.send(f"PASS carol:{PASSWORD}")
    await again.register("carol")
    again.send("JOIN #den")
    await again.expect(" 473 carol #den ")  # invite only, as for anyone uninvited
    await again.close()
    await bob.close()
    await carol.close()
    await alice.close()


async def test_an_invitation_while_the_demotion_runs_is_not_overtaken_by_it(
    rooms: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demotion reads the rooms held by the right first, then each room's standing:
    alice's invitation of carol to #nook answered (`204`) between the two was undone, carol
    put out of #nook all the same. The demotion's removal now asks the store whether the
    membership is still by the right alone, in its own transaction."""
    store = services(rooms).store
    async with api(rooms, "alice") as a:
        await create_room(a, "nook", private=True)
    assert await join(rooms, "carol", "nook") == 200
    held = HeldCall(  # the demotion's look, not the invitation's after it
        monkeypatch,
        store,
        "room_and_standing",
        when=lambda room_key, user_key: (room_key, user_key) == ("nook", "carol"),
        once=True,
    )
    demoting = asyncio.create_task(demote(rooms, "carol"))
    await held.until_reached()
    async with api(rooms, "alice") as a:
        r = await a.post("/api/v1/rooms/nook/invites", json={"user": "carol"})
        assert r.status_code == 204, r.text
    held.let_go()
    await demoting
    assert "nook" in await store.rooms_of("carol")
    assert await kicks(rooms, "nook") == []
    assert await kicks(rooms, "den") == [KICKED]  # not invited: put out


async def test_a_join_held_at_its_write_while_the_demotion_runs_is_taken_back(
    rooms: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Carol's join of #attic read her right, then the demotion ran whole (it found no
    membership to end), then the join wrote hers: before, she was in #attic for good."""
    store = services(rooms).store
    async with api(rooms, "alice") as a:
        await create_room(a, "attic", private=True)
    held = HeldCall(
        monkeypatch, store, "add_member", when=lambda room_key, *_, **__: room_key == "attic"
    )
    joining = asyncio.create_task(join(rooms, "carol", "attic"))
    await held.until_reached()
    await demote(rooms, "carol")
    held.let_go()
    assert await joining in (401, 404)  # her login revoked meanwhile, or the room hidden
    assert "attic" not in await store.rooms_of("carol")
    assert await join(rooms, "carol", "attic") == 404


async def test_joins_sent_with_the_demotion_never_leave_her_in(rooms: App) -> None:
    """Ten rounds: made a server admin again and logged in on IRC, carol sends a JOIN of a
    new private room at the same instant as the demotion; whichever lands first, she ends
    outside it (before, in every round her JOIN was answered first)."""
    store = services(rooms).store
    accounts = services(rooms).accounts
    answers: list[str] = []
    for n in range(10):
        await accounts.set_admin("carol", True)
        async with api(rooms, "alice") as a:
            await create_room(a, f"r{n}", private=True)
        carol = await RawIrc.connect(rooms)
        carol.send(f"PASS carol:{PASSWORD}")
        await carol.register("carol")
        carol.send(f"JOIN #r{n}")
        await demote(rooms, "carol")
        await carol.expect("ERROR")  # the revocation: every session of hers is closed
        joined = any(f" 366 carol #r{n} " in line for line in carol.lines)
        answers.append("joined" if joined else "refused")
        await carol.close()
        assert f"r{n}" not in await store.rooms_of("carol"), (n, answers)
    print("joins sent with the demotion:", answers)


async def cli_demotion(app: App, tmp_path: Path, name: str, *more: str) -> tuple[int, str]:
    """`torbit user set-admin NAME --revoke` itself (typer's runner, in a thread: it runs
    its own event loop), over the node's store; its exit code and output."""
    config = tmp_path / "cli.toml"
    config.touch()
    env = {"TORBIT_CONFIG": str(config), "TORBIT_STORAGE__URL": app.settings.storage.url}
    env.update({f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()})
    args = ["user", "set-admin", name, "--revoke", *more]
    done = await asyncio.to_thread(cli, env, *args)
    return done.returncode, done.stdout + done.stderr


async def waits_for_acts(app: App, after: int, seen: asyncio.Event) -> bool:
    """The node has applied carol's revocation (`seen`), found past serial `after` in the
    store's feed, but not ended its work: it waits for her acts under way."""
    if not seen.is_set():
        return False
    rows = await services(app).store.revocations_after(after)
    serial: int = max(n for n, r in rows if r.user == "carol" and r.credential != FEED_EVENT)
    revocations: Revocations = services(app).revocations
    return revocations.applied() < serial


@pytest.mark.parametrize("room", ["den", "hall"])
async def test_a_kick_under_way_when_the_demotion_is_answered_does_not_land_after_it(
    rooms: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, room: str
) -> None:
    """A server admin's act that read the right before the CLI took it away and writes
    after landed after the CLI's answer (demote55, a strict xfail test): carol's kick of
    bob from #den, held at its write while `set-admin --revoke` runs, let go once the right
    is gone in the store and its revocation written: the CLI said "carol is no longer a
    server admin", then bob was kicked by her (204). Now the node applying the revocation
    waits for her acts under way there (her account's turn), and the CLI answers once every
    node says it applied it: after the kick, which it could not overtake. In #den, which the
    demotion puts her out of (its kick waits for her acts there, as a deop's), and in the
    public #hall, which she stays in: there only her account's turn holds it."""
    store = services(rooms).store
    order: list[str] = []
    held = HeldCall(monkeypatch, store, "expel", then=lambda: order.append("kick"))

    async def demoted() -> tuple[int, str]:
        answer = await cli_demotion(rooms, tmp_path, "carol")
        order.append("demoted")
        return answer

    before = await store.last_revocation()
    seen = asyncio.Event()
    services(rooms).revocations.on_revoked(lambda e: seen.set() if e.user == "carol" else None)
    async with api(rooms, "carol") as c:
        if room == "hall":
            assert await join(rooms, "bob", "hall") == 200
        kicking = asyncio.create_task(c.delete(f"/api/v1/rooms/{room}/members/bob"))
        await held.until_reached()
        demoting = asyncio.create_task(demoted())
        async with asyncio.timeout(30):  # the node has read it: then the CLI answered,
            while not demoting.done() and not await waits_for_acts(rooms, before, seen):
                await asyncio.sleep(0.01)  # or the node is waiting for her kick, held
        held.let_go()
        answer = await kicking
        code, said = await demoting
    assert code == 0 and "carol is no longer a server admin" in said, said
    assert answer.status_code != 204 or order == ["kick", "demoted"], (answer.status_code, order)


async def test_a_node_silent_does_not_hold_the_cli_past_its_bound(
    rooms: App, tmp_path: Path
) -> None:
    """A node killed a moment ago (its mark fresh, never to move again) is waited for at
    most --wait seconds; then the CLI says which node had not confirmed, exit 2 (cannot
    tell), the right gone all the same. A node gone longer (its mark older than ALIVE_S)
    is not waited for."""
    store = services(rooms).store
    now = datetime.now(UTC)
    await store.mark_applied("gone-long-ago", 0, now - timedelta(seconds=ALIVE_S + 60))
    await store.mark_applied("killed-just-now", await store.last_revocation(), now)
    async with asyncio.timeout(30):
        code, said = await cli_demotion(rooms, tmp_path, "carol", "--wait", "0.5")
    assert code == 2, said
    assert "carol is no longer a server admin" in said, said
    # (the running node may be named too, had it not polled within the 0.5 s)
    assert "not confirmed within 0.5 s by" in said and "killed-just-now (behind)" in said, said
    assert "gone-long-ago" not in said, said
    assert not (await store.get_user("carol")).is_admin


async def test_an_operators_kill_under_way_is_not_overtaken_by_the_clis_answer(
    rooms: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Carol, an IRC operator by her server-admin account (OPER), KILLs bob; the KILL read
    her account (`Operators.authorize`), then is held at its audit write while the CLI
    demotes her, let go once the node applied the demotion (or the CLI answered): before,
    the CLI answered, then bob was killed by her (`['demoted', 'kill']`): the KILL took no
    turn of her account. Now it does (`Operators._acting`), and is written before the
    CLI's answer."""
    store = services(rooms).store
    order: list[str] = []
    kill = HeldCall(
        monkeypatch,
        store,
        "add_audit",
        when=lambda entry: entry.action == "kill",
        then=lambda: order.append("kill"),
    )

    async def demoted() -> tuple[int, str]:
        answer = await cli_demotion(rooms, tmp_path, "carol")
        order.append("demoted")
        return answer

    bob = await irc_in(rooms, "bob", "den")
    carol = await RawIrc.connect(rooms)
    carol.send(f"PASS carol:{PASSWORD}")
    await carol.register("carol")
    carol.send(f"OPER carol {PASSWORD}")
    await carol.expect(" 381 carol ")
    before = await store.last_revocation()
    seen = asyncio.Event()
    services(rooms).revocations.on_revoked(lambda e: seen.set() if e.user == "carol" else None)
    carol.send("KILL bob :begone")
    await kill.until_reached()
    demoting = asyncio.create_task(demoted())
    async with asyncio.timeout(30):
        while not demoting.done() and not await waits_for_acts(rooms, before, seen):
            await asyncio.sleep(0.01)
    kill.let_go()
    code, said = await demoting
    async with asyncio.timeout(30):  # not cancelled with her session: it goes on
        while "kill" not in order:
            await asyncio.sleep(0.01)
    assert code == 0 and "carol is no longer a server admin" in said, said
    assert order == ["kill", "demoted"], order
    await bob.expect("begone")
    await carol.close()
    await bob.close()


async def test_an_owners_invitation_keeps_a_member_in_by_the_right_past_the_demotion(
    rooms: App, tmp_path: Path
) -> None:
    """attack56: alice could not keep carol, in #den by the server-admin right alone, by
    inviting her: `409` "carol is already a member of #den", and the demotion put her out.
    Now an invitation admits her, on every door (HTTP `204`, IRC `341`, telnet "you
    invited carol to #…"), and she stays past `torbit user set-admin carol --revoke`; the
    private #attic, joined by the right and not invited to, she still leaves. A second
    invitation, of an ordinary member now, is `409` as before."""
    store = services(rooms).store
    async with api(rooms, "alice") as a:
        for name in ("nook", "loft", "attic"):
            await create_room(a, name, private=True)
    for name in ("nook", "loft", "attic"):
        assert await join(rooms, "carol", name) == 200
    assert {"den", "nook", "loft", "attic"} <= set(await store.rooms_joined_by_right("carol"))
    async with api(rooms, "alice") as a:
        r = await a.post("/api/v1/rooms/den/invites", json={"user": "carol"})
        assert r.status_code == 204, r.text
    alice_irc = await irc_in(rooms, "alice", "nook")
    alice_irc.send("INVITE carol #nook")
    await alice_irc.expect(" 341 alice carol #nook")
    await alice_irc.close()
    alice = await telnet_login(rooms, "alice")
    alice.send("/join loft")
    await alice.expect(r"you are in #loft")
    alice.send("/invite carol")
    await alice.expect(r"you invited carol to #loft")
    await alice.close()
    code, said = await cli_demotion(rooms, tmp_path, "carol")
    assert code == 0 and "carol is no longer a server admin" in said, said
    held = set(await store.rooms_of("carol"))
    assert {"den", "nook", "loft"} <= held and "attic" not in held, held
    for name in ("den", "nook", "loft"):
        assert await kicks(rooms, name) == []
    assert await kicks(rooms, "attic") == [KICKED]
    async with api(rooms, "carol") as c:
        for name in ("den", "nook", "loft"):
            assert (await c.get(f"/api/v1/rooms/{name}/messages")).status_code == 200
        assert (await c.get("/api/v1/rooms/attic/messages")).status_code == 404
    async with api(rooms, "alice") as a:
        r = await a.post("/api/v1/rooms/den/invites", json={"user": "carol"})
        assert r.status_code == 409 and "carol is already a member of #den" in r.text, r.text


async def test_a_server_admin_cannot_invite_herself_to_outlast_the_demotion(
    rooms: App, tmp_path: Path
) -> None:
    """attack57: carol, in alice's private #den by the server-admin right alone, invited
    herself (HTTP `204`, IRC `341`): the invitation admitted her as alice's does (attack56),
    and she stayed in #den past `torbit user set-admin carol --revoke`; invited to the
    private #vault she had not joined, she joined by it and stayed too. Nobody may invite
    themselves (there is nothing the room's staff chose); the demotion puts her out."""
    store = services(rooms).store
    async with api(rooms, "alice") as a:
        await create_room(a, "vault", private=True)
    async with api(rooms, "carol") as c:
        r = await c.post("/api/v1/rooms/den/invites", json={"user": "carol"})
        assert r.status_code == 403 and "you cannot /invite yourself" in r.text, r.text
        r = await c.post("/api/v1/rooms/vault/invites", json={"user": "carol"})
        assert r.status_code == 403, r.text
    irc = await irc_in(rooms, "carol", "den")
    irc.send("INVITE carol #den")
    await irc.expect(" 482 carol #den ")
    await irc.close()
    assert await store.invited_rooms("carol") == []
    assert await join(rooms, "carol", "vault") == 200  # by the right, as #den
    code, said = await cli_demotion(rooms, tmp_path, "carol")
    assert code == 0 and "carol is no longer a server admin" in said, said
    held = set(await store.rooms_of("carol"))
    assert not {"den", "vault"} & held, held


async def test_a_server_admin_cannot_except_herself_to_outlast_the_demotion(
    rooms: App, tmp_path: Path
) -> None:
    """selfexcept57: carol, in alice's private #den by the server-admin right alone, put
    `carol!*@*` on its invite exception list (HTTP `204`, IRC `MODE +I`), and on the private
    #vault's she had not joined: an exception naming her account keeps her past `torbit
    user set-admin carol --revoke` (it is the room's choice when its staff set it), and she
    joined #vault after it (`200`). A server admin acting by the right alone may not put
    herself on a room's exception lists (invite or ban), on any door: no mask whose nick
    takes her name (`carol`, `c*`, `*!*@host`). Masks of others stay hers to set, and a
    room's owner or admin may set one that takes herself, as before."""
    store = services(rooms).store
    async with api(rooms, "alice") as a:
        await create_room(a, "vault", private=True)
        await create_room(a, "nook", private=True)
        r = await a.put("/api/v1/rooms/nook/exceptions", params={"mask": "a*", "kind": "invite"})
        assert r.status_code == 204, r.text  # the owner's, taking herself: as before
    refused = "you cannot put yourself on the"
    async with api(rooms, "carol") as c:
        for room, mask, kind in (
            ("den", "carol!*@*", "invite"),
            ("den", "carol", "invite"),
            ("den", "C?rol!*@*", "invite"),
            ("den", "c*!*@10.1.2.3", "invite"),
            ("den", "*!*@127.0.0.1", "invite"),
            ("den", "*!*@*", "invite"),
            ("vault", "carol!*@*", "invite"),
            ("hall", "carol", "ban"),
        ):
            r = await c.put(f"/api/v1/rooms/{room}/exceptions", params={"mask": mask, "kind": kind})
            assert r.status_code == 403 and refused in r.text, (room, mask, r.text)
        r = await c.put("/api/v1/rooms/den/exceptions", params={"mask": "bob", "kind": "invite"})
        assert r.status_code == 204, r.text  # not her: the right's to set
        r = await c.put("/api/v1/rooms/adm/exceptions", params={"mask": "carol", "kind": "invite"})
        assert r.status_code == 204, r.text  # a room admin there by alice's choice
    irc = await irc_in(rooms, "carol", "den")
    for change in ("+I carol!*@*", "+I *!*@127.0.0.1", "+e carol"):
        irc.send(f"MODE #den {change}")
        said = await irc.expect(" 482 carol #den ")
        assert refused in said, said
    await irc.close()
    telnet = await telnet_login(rooms, "carol")
    telnet.send("/join den")
    await telnet.expect(r"you are in #den")
    telnet.send("/invex carol")
    await telnet.expect(refused)
    telnet.send("/except c*")
    await telnet.expect(refused)
    await telnet.close()
    for room in ("den", "vault", "hall"):
        masks = [m.mask for m in await store.list_exception_masks(room)]
        assert masks == (["bob!*@*"] if room == "den" else []), (room, masks)
    code, said = await cli_demotion(rooms, tmp_path, "carol")
    assert code == 0 and "carol is no longer a server admin" in said, said
    held = set(await store.rooms_of("carol"))
    assert "den" not in held and "adm" in held, held
    async with api(rooms, "carol") as c:
        for room in ("den", "vault"):
            assert (await c.get(f"/api/v1/rooms/{room}/messages")).status_code == 404
            assert (await c.put(f"/api/v1/rooms/{room}/members/carol")).status_code == 404
    again = await RawIrc.connect(rooms)
    again.send(f"PASS carol:{PASSWORD}")
    await again.register("carol")
    again.send("JOIN #vault")
    await again.expect(" 473 carol #vault ")
    await again.close()
