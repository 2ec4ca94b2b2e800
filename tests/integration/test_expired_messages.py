"""A message older than `chat.retention_hours` is gone on every door, though the log still
holds it: the SQL log until its next purge round (every 60 s), Kafka until the broker drops
its segment (up to about 65 minutes past the retention), the broker keeping the records here.

The room and the accounts were made three hours ago and the log holds messages sent two
hours ago, past the retention of an hour: written into the running server's log, as
tests/security/test_unread_count.py writes its messages, right after the server's first
purge round (the next is a minute away). Then alice says something on HTTP. bob reads: the
room's history, the unread count and his inbox on HTTP, the classic `GET
/receive/{room}/{user}` (which moves his cursor past the expired ones too), IRC's
CHATHISTORY of the room and of the conversation, the history a telnet /join shows and
telnet's /history. Only the fresh messages show; the log still holds the others. On main
every door showed them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.broker import topic_prefix
from tests.helpers.http import PASSWORD, basic, http_client, texts
from tests.helpers.irc import joined
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.accounts import new_credential
from torbit.core.models import Draft, MessageKind, Room, User
from torbit.testing.kafka import KafkaCluster

HOUR = timedelta(hours=1)


@pytest.fixture(
    params=[pytest.param("sql", id="sql"), pytest.param("kafka", marks=pytest.mark.kafka)]
)
async def app(request: pytest.FixtureRequest, make_server: ServerFactory) -> App:
    """A server keeping messages an hour, on the SQL log or on Kafka (the SQLite store)."""
    sections: dict[str, dict[str, Any]] = {"chat": {"retention_hours": 1}}
    if request.param == "kafka":
        broker: KafkaCluster = request.getfixturevalue("broker")
        url = f"kafka://{broker.bootstrap}"
        sections["message_log"] = {"url": url, "topic_prefix": topic_prefix("r")}
    return await make_server(**sections)


async def _expired_in_the_log(app: App) -> None:
    """alice and bob, and #den where they both are, from three hours ago; two messages of
    alice's in #den and one to bob, from two hours ago."""
    core = app.core
    assert core is not None
    made = datetime.now(UTC) - 3 * HOUR
    for name in ("alice", "bob"):
        hashed = await core.accounts.hashing.hash(PASSWORD)
        await core.store.create_user(User(name, hashed, made, credential=new_credential()))
    room = await core.store.create_room(Room(name="den", created_at=made, owner="alice"))
    for name in ("alice", "bob"):
        await core.store.add_member(room.key, name)
    old = datetime.now(UTC) - 2 * HOUR
    await core.message_log.publish(
        [Draft("den", "alice", f"expired {n} in den", old) for n in range(2)]
    )
    await core.message_log.publish(
        [
            Draft(inbox, "alice", "expired secret", old, MessageKind.PRIVATE, recipient="bob")
            for inbox in ("@bob", "@alice")
        ]
    )


async def test_an_expired_message_is_gone_on_every_door(app: App) -> None:
    await _expired_in_the_log(app)
    async with http_client(app) as client:
        r = await client.post(
            "/api/v1/rooms/den/messages", json={"text": "fresh in den"}, auth=basic("alice")
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/private-messages",
            json={"to": "bob", "text": "fresh secret"},
            auth=basic("alice"),
        )
        assert r.status_code == 201, r.text

        r = await client.get("/api/v1/rooms/den/messages", auth=basic("bob"))
        assert texts(r.json()) == ["fresh in den"], r.text
        r = await client.get("/api/v1/rooms/den/read-marker", auth=basic("bob"))
        assert r.json() == {"last_read_id": None, "unread": 1}
        r = await client.get("/api/v1/private-messages", auth=basic("bob"))
        assert texts(r.json()) == ["fresh secret"], r.text

        # the classic receive: the fresh one, and the cursor past the expired ones too
        r = await client.get("/receive/den/bob", auth=basic("bob"))
        assert texts(r.json()) == ["fresh in den"], r.text
        r = await client.get("/api/v1/rooms/den/read-marker", auth=basic("bob"))
        assert r.json()["unread"] == 0
        r = await client.get("/receive/den/bob", auth=basic("bob"))
        assert texts(r.json()) == [], r.text

    irc = await joined(
        app, "bob", caps="batch server-time message-tags draft/chathistory", password=PASSWORD
    )
    irc.send("CHATHISTORY LATEST #den * 10", "CHATHISTORY LATEST alice * 10", "PING :done")
    await irc.expect("PONG")
    said = [line.split(" PRIVMSG ", 1)[1] for line in irc.lines if " PRIVMSG " in line]
    assert said == ["#den :fresh in den", "bob :fresh secret"], irc.lines
    await irc.close()

    assert app.telnet_port is not None
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.login("bob")
    telnet.send("/join den")  # the newest messages first (chat.history_on_join)
    await telnet.expect(r"^\* you are in #den")
    await telnet.expect(r"<alice> fresh in den$")
    telnet.send("/history")
    await telnet.expect(r"<alice> fresh in den$")
    shown = [line for line in telnet.seen if "<alice>" in line]
    assert len(shown) == 2 and all("fresh in den" in line for line in shown), shown
    await telnet.close()

    # hidden, not purged: the log still holds them
    assert app.core is not None
    held = await app.core.message_log.read("den")
    assert [m.text for m in held] == ["expired 0 in den", "expired 1 in den", "fresh in den"]
