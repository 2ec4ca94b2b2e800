"""Rooms with owners across two nodes (`postgresql + kafka`, `cassandra + kafka`): a kick or ban made on one node
ends the listening of the user's telnet and WebSocket sessions on the other at once (a node
event through the log), a mute made on one node stops the other node's telnet fast path,
which never asks the store, and a voice taken on one node silences a moderated room's member
on the other at once."""

from __future__ import annotations

import pytest

from tests.helpers.http import PASSWORD, error_of
from tests.helpers.irc import irc_user
from tests.scale.clients import Clients, telnet_messages
from tests.scale.conftest import STORES, NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.parametrize("scale_store", STORES)]


async def test_kick_ban_and_mute_reach_sessions_on_the_other_node(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.owner(a, "alice", "hall")
    bob_ws = await clients.ws(b, "bob")
    bob = await clients.telnet_in(b, "bob")
    await bob_ws.subscribe("hall")
    carol = await clients.telnet_in(b, "carol")

    # a mute made on a stops bob's telnet lines on b, where no store is asked per line
    r = await alice.client.put("/api/v1/rooms/hall/mutes/bob", json={"minutes": 5})
    assert r.status_code == 200, r.text
    await bob.expect(r"^\* bob was muted in #hall for 5 minutes by alice$")
    bob.send("muted?")
    await bob.expect(r"^! you are muted in #hall")
    assert (await alice.client.delete("/api/v1/rooms/hall/mutes/bob")).status_code == 204
    await bob.expect(r"^\* bob may speak in #hall again$")
    bob.send("free again")
    assert await telnet_messages(carol, 1) == [("bob", "free again")]

    # a voice given on a lets carol speak on b in a moderated room; taken on a, her session
    # on b is refused its next line at once (the standing is read at each message)
    r = await alice.client.patch("/api/v1/rooms/hall/settings", json={"moderated": True})
    assert r.status_code == 200, r.text
    await carol.expect(r"^\* alice changed #hall: let only admins and voiced members speak$")
    carol.send("moderated?")
    await carol.expect(r"^! #hall is moderated: only its admins and voiced members may speak")
    assert (await alice.client.put("/api/v1/rooms/hall/voices/carol")).status_code == 204
    await carol.expect(r"^\* alice gave carol a voice in #hall$")
    carol.send("voiced")
    await bob.expect(r"\] <carol> voiced$")
    assert (await alice.client.delete("/api/v1/rooms/hall/voices/carol")).status_code == 204
    await carol.expect(r"^\* alice took carol's voice in #hall$")
    carol.send("devoiced?")
    await carol.expect(r"^! #hall is moderated")
    r = await alice.client.patch("/api/v1/rooms/hall/settings", json={"moderated": False})
    assert r.status_code == 200, r.text
    await carol.expect(r"^\* alice changed #hall: let every member speak$")  # b has it too

    # a kick on a ends bob's listening on b
    assert (await alice.client.delete("/api/v1/rooms/hall/members/bob")).status_code == 204
    await bob.expect(r"^\* you were kicked from #hall by alice$")
    await bob_ws.frame("notice", "you were kicked from #hall by alice")
    await carol.expect(r"^\* bob was kicked from #hall by alice$")
    await alice.send("hall", "after the kick")
    assert await telnet_messages(carol, 1) == [("alice", "after the kick")]
    bob.send("hello?")
    await bob.expect(r"^! you are no longer in a room")
    assert "after the kick" not in bob_ws.texts()

    # bob comes back, then a ban on a throws him out on b for good
    bob.send("/join hall")
    await bob.expect(r"^\* you are in #hall")
    assert (await alice.client.put("/api/v1/rooms/hall/bans/bob")).status_code == 204
    await bob.expect(r"^\* you were banned from #hall by alice$")
    bob.send("/join hall")
    await bob.expect(r"^! you are banned from #hall$")
    bob_http = await clients.http(b, "bob", new=False)
    error_of(await bob_http.post("hall", "let me in"), 403, "forbidden")


async def test_an_admin_who_parts_on_one_node_has_no_rights_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    """bob, an admin of #hall, PARTs over IRC on node a while his telnet session on b is in
    the room: b's session is told and stops listening, and joining again there makes bob a
    plain member (the rights ended with the membership, in the store both nodes read). On
    main he joined again as an admin and kicked carol."""
    a = await make_node("a")
    b = await make_node("b")
    alice = await clients.owner(a, "alice", "hall")
    bob = await clients.telnet_in(b, "bob")
    carol = await clients.telnet_in(b, "carol")
    assert (await alice.client.put("/api/v1/rooms/hall/admins/bob")).status_code == 204
    await bob.expect(r"^\* alice made bob an admin of #hall$")
    irc = await irc_user(a, "x", sasl_username="bob", sasl_password=PASSWORD, join=("#hall",))
    try:
        await irc.rawmsg("PART", "#hall")
        await irc.expect("PART", "#hall")
    finally:
        await irc.disconnect(expected=True)
    await bob.expect(r"^\* you left #hall \(on another connection\)$")
    bob.send("/join hall")
    await bob.expect(r"^\* you are in #hall")
    bob.send("/kick carol")
    await bob.expect(r"^! only .* of #hall may /kick: you are a member$")
    bob_http = await clients.http(a, "bob", new=False)
    error_of(await bob_http.client.delete("/api/v1/rooms/hall/members/carol"), 403, "forbidden")
    carol.send("still here")
    assert await telnet_messages(bob, 1) == [("carol", "still here")]
