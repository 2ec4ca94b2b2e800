"""attack61 on two nodes sharing PostgreSQL and Kafka: an invitation and a ban of bob raced
on two nodes through HTTP and IRC (`INVITE`, `MODE +b`), while bob, his sessions open on
both nodes, tries to join through IRC and HTTP at the same moment. Whatever the order, once
every answer is in bob is banned, no member, invited nowhere, refused on both doors, and
his open IRC session hears nothing of the room."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter

import httpx
import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import api, services
from tests.scale.conftest import NodeFactory
from torbit.app import App

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.usefixtures("patient_settling")]
ROUNDS = 16
LIMITS = {
    "moderation_burst": 8 * ROUNDS,
    "join_rate": 0,  # bob's tries until every answer is in are many
    "create_rate": 0,  # (a join of a room one may not see is charged as a creation)
    "invite_rate": 0,
}


async def irc_act(irc: RawIrc, line: str, token: str) -> list[str]:
    """Send `line`, then a PING: the lines answered before its PONG."""
    seen = len(irc.lines)
    irc.send(line, f"PING :{token}")
    await irc.expect(f"PONG torbit {token}")
    return irc.lines[seen:]


async def bob_joins(
    irc: RawIrc, http: httpx.AsyncClient, room: str, n: int, done: asyncio.Event
) -> list[str]:
    """bob's tries at #room, IRC `JOIN`s on node b and `PUT …/members/bob` on node a side
    by side, each door trying again until `done` (and once more); how each ended: 'in',
    'banned', 'invite-only' or 'other' for IRC, the status for HTTP."""

    async def by_irc() -> list[str]:
        said = []
        for i in itertools.count():
            answer = " ".join(await irc_act(irc, f"JOIN #{room}", f"j{n}-{i}"))
            said.append(
                "banned"
                if " 474 " in answer
                else "invite-only"
                if " 473 " in answer
                else "in"
                if " 366 " in answer
                else "other"
            )
            if done.is_set():
                return said
        raise AssertionError("unreachable")

    async def by_http() -> list[str]:
        codes = []
        while True:
            stop = done.is_set()
            r = await http.put(f"/api/v1/rooms/{room}/members/bob")
            codes.append(str(r.status_code))
            if stop:
                return codes

    irc_said, http_said = await asyncio.gather(by_irc(), by_http())
    return irc_said + http_said


async def setup(a: App) -> None:
    for name in ("alice", "bob", "carol"):
        await services(a).accounts.register(name, PASSWORD)


@pytest.mark.parametrize("scale_store", ["postgresql"])
async def test_an_invitation_and_a_ban_raced_on_two_nodes_leave_bob_out(
    make_node: NodeFactory,
) -> None:
    """16 rounds, each a private room of alice's with carol its admin: at once, alice invites
    bob from node a (IRC `INVITE`, or HTTP, alternately), carol bans him from node b 0-45 ms
    later (HTTP, or IRC `MODE +b bob`), and bob tries to join on both doors, his sessions open on both
    nodes. Afterwards: banned, no member, no invitation; the IRC `JOIN` refused (474, or
    473 with no invitation left), the HTTP join 403; a line alice sends to the room reaches none of bob's sessions."""
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    await setup(a)
    alice_irc = await joined(a, "alice", password=PASSWORD)
    carol_irc = await joined(b, "carol", password=PASSWORD)
    bob_irc = await joined(b, "bob", password=PASSWORD)
    invites: Counter[str] = Counter()
    bans: Counter[str] = Counter()
    tries: Counter[str] = Counter()
    async with api(a, "alice") as alice, api(b, "carol") as carol, api(a, "bob") as bob:
        for n in range(ROUNDS):
            room = f"den{n}"
            await services(a).moderation.create("alice", room, private=True)
            await services(a).moderation.invite("alice", room, "carol")
            await services(a).membership.become_member("carol", room)
            await services(a).moderation.op("alice", room, "carol")
            await irc_act(alice_irc, f"JOIN #{room}", f"in{n}")  # INVITE asks for it (442)

            async def invite(room: str = room, n: int = n) -> str:
                if n % 2:
                    r = await alice.post(f"/api/v1/rooms/{room}/invites", json={"user": "bob"})
                    return str(r.status_code)
                said = " ".join(await irc_act(alice_irc, f"INVITE bob #{room}", f"i{n}"))
                return next((c for c in ("341", "474") if f" {c} " in said), said[-80:])

            async def ban(room: str = room, n: int = n) -> str:
                await asyncio.sleep(0.015 * (n % 4))  # 0-45 ms after the invitation
                if n % 2 == 0:
                    r = await carol.put(f"/api/v1/rooms/{room}/bans/bob")
                    return str(r.status_code)
                said = await irc_act(carol_irc, f"MODE #{room} +b bob", f"b{n}")
                # no line for a channel her session is not in, unless refused (4xx)
                refused = [line for line in said if re.search(r"^:torbit 4\d\d ", line)]
                return "+b" if not refused else refused[0]

            done = asyncio.Event()
            joining = asyncio.create_task(bob_joins(bob_irc, bob, room, n, done))
            invited, banned = await asyncio.gather(invite(), ban())
            done.set()
            tried = await joining
            invites[invited] += 1
            bans[banned] += 1
            tries.update(tried)
            assert banned in ("204", "+b"), banned
            # every answer is in: what the store holds, and each door's word now
            standing = await services(b).store.standing(room, "bob")
            assert standing.banned and not standing.member, (n, standing, invited, tried)
            pending = [i.room_key for i in await services(a).store.invitations("bob")]
            assert room not in pending, (n, invited, tried)
            again = " ".join(await irc_act(bob_irc, f"JOIN #{room}", f"again{n}"))
            assert " 474 " in again or " 473 " in again, again  # banned, or not invited
            r = await bob.put(f"/api/v1/rooms/{room}/members/bob")
            assert r.status_code in (403, 404), r.text  # 404: a private room, no oracle
            r = await alice.post(f"/api/v1/rooms/{room}/messages", json={"text": f"secret{n}"})
            assert r.status_code == 201, r.text
            await irc_act(alice_irc, f"PRIVMSG #{room} :irc-secret{n}", f"s{n}")
            await irc_act(carol_irc, f"NAMES #{room}", f"c{n}")  # node b heard the room
    heard = [line for line in bob_irc.lines if "secret" in line]
    await asyncio.gather(*(c.close() for c in (alice_irc, carol_irc, bob_irc)))
    print(f"invite vs ban, {ROUNDS} rounds: invites {dict(invites)}, bans {dict(bans)}")
    print(f"bob's joins: {dict(tries)}; lines of the room bob heard afterwards: {heard}")
    assert heard == []
