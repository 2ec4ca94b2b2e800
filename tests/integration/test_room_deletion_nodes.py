"""A room deleted on one node of two (PostgreSQL and Kafka): the other node's sessions in it
leave at once, told why, and can send there no more; the room made again on the other node
shows nothing of the old one, though Kafka may keep its records (reads skip what is older than
the room). On main there was no room deletion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.helpers.http import PASSWORD, basic, http_client, texts
from tests.helpers.moderation import Ws, command, telnet
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_a_deletion_on_one_node_puts_the_other_nodes_sessions_out(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a"), await make_node("b")
    assert a.core is not None and b.core is not None
    for name in ("alice", "bob", "carol"):
        await a.core.accounts.register(name, PASSWORD)
    async with http_client(a) as ca, http_client(b) as cb:
        r = await ca.post("/api/v1/rooms", json={"name": "den"}, auth=basic("alice"))
        assert r.status_code == 201, r.text
        bob = await telnet(b, "bob")
        await command(bob, "/join den", r"^\* you are (already )?in #den")
        carol = await Ws.open(b, "carol")
        await carol.subscribe("den")
        for text in ("old one", "old two"):
            r = await ca.post("/send/den/alice", content=text, auth=basic("alice"))
            assert r.status_code == 201, r.text
        await bob.expect(r"<alice> old two$")
        r = await cb.get("/receive/den/carol", auth=basic("carol"))
        assert texts(r.json()) == ["old one", "old two"]

        r = await ca.delete("/api/v1/rooms/den", auth=basic("alice"))
        assert r.status_code == 204, r.text
        await bob.expect(r"^\* #den was deleted by alice$")
        told = await carol.next("notice", "#den was deleted by alice")
        assert told["kind"] == "room_deleted"
        await command(bob, "still here?", r"^! you are no longer in a room")
        r = await cb.post("/send/den/carol", content="hello?", auth=basic("carol"))
        assert r.status_code == 404, r.text

        r = await cb.post("/api/v1/rooms", json={"name": "den"}, auth=basic("bob"))
        assert r.status_code == 201, r.text  # made again, on the other node
        await command(bob, "/join den", r"^\* you are (already )?in #den \(1 person here\)$")
        for client, node in ((ca, "a"), (cb, "b")):
            r = await client.get("/api/v1/rooms/den/messages", auth=basic("bob"))
            assert r.json()["messages"] == [], (node, r.text)
        r = await cb.put("/api/v1/rooms/den/members/carol", auth=basic("carol"))
        assert r.status_code == 200, r.text
        r = await ca.get("/receive/den/carol", auth=basic("carol"))
        assert texts(r.json()) == [], r.text  # no old cursor, no old messages
    await carol.close()


async def test_a_deletion_is_answered_once_the_other_node_applied_it(
    make_node: NodeFactory,
    patient_settling: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """alice deletes #den on node b, where bob (a member on node a) is muted: the answer
    waits for node a to apply the deletion (a `settled` event), as for a kick. On main the
    deletion's first event (`RoomDeletedAt`, the room's identity) was published `settled`
    but is no event a node answers for: the deleter waited the whole settle time (1 s; here
    60), node a was then marked as not answering (a warning) and the deletion itself
    (`RoomDeleted`) was answered without waiting for it (attack59)."""
    a, b = await make_node("a"), await make_node("b")
    assert a.core is not None and b.core is not None
    for name in ("alice", "bob"):
        await a.core.accounts.register(name, PASSWORD)
    async with http_client(a) as ca, http_client(b) as cb:
        r = await ca.post("/api/v1/rooms", json={"name": "den"}, auth=basic("alice"))
        assert r.status_code == 201, r.text
        r = await ca.put("/api/v1/rooms/den/members/bob", auth=basic("bob"))
        assert r.status_code == 200, r.text
        r = await ca.put("/api/v1/rooms/den/mutes/bob", json={"minutes": 10}, auth=basic("alice"))
        assert r.status_code == 200, r.text
        r = await ca.get("/api/v1/rooms/den/messages", auth=basic("bob"))  # remembered there
        assert r.status_code == 200 and a.core.membership.known.room("bob", "den") is not None
        r = await cb.delete("/api/v1/rooms/den", auth=basic("alice"), timeout=120)
        assert r.status_code == 204, r.text
        # node a applied it before the answer: nothing of #den is answered from its memory
        assert a.core.membership.known.room("bob", "den") is None
        assert a.core.mutes.until("den", "bob", datetime.now(UTC)) is None
    assert not [r.message for r in caplog.records if "not applied by node" in r.message]
