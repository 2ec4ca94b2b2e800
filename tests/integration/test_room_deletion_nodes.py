"""A room deleted on one node of two (PostgreSQL and Kafka): the other node's sessions in it
leave at once, told why, and can send there no more; the room made again on the other node
shows nothing of the old one, though Kafka may keep its records (reads skip what is older than
the room). On main there was no room deletion."""

from __future__ import annotations

import pytest

from tests.helpers.http import PASSWORD, basic, http_client, texts
from tests.helpers.moderation import Ws, command, telnet
from tests.scale.conftest import NodeFactory, empty_db, make_node, pg_url, prefix, scale_store  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_a_deletion_on_one_node_puts_the_other_nodes_sessions_out(
    make_node: NodeFactory,  # noqa: F811
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
