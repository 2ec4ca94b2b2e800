"""What a client queued behind a command is not handled once its connection is closing (a
QUIT, a revoked login): our side closes when its output is out, and a client that reads
nothing keeps it closing for LINGER (30 s). Until its connection was lost, the door went on
handling the commands it had queued, with the user's rights: after a password change (the
owner taking a stolen login back) the thief's queued MODE and JOIN still ran, and so did
the rest of a long JOIN under way."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ServerFactory
from tests.helpers.held_calls import HeldCall
from tests.helpers.http import PASSWORD, bearer, change_password, http_client, login, register
from tests.helpers.irc import joined
from tests.helpers.slow_reader import stop_reading
from torbit.app import App
from torbit.frontends.irc.session import IrcSession


async def handled(session: IrcSession) -> None:
    """Until the session handles nothing more: no handler runs and nothing waits."""
    async with asyncio.timeout(30):
        while session._busy or session._pending:
            await asyncio.sleep(0.05)


async def topic_of(app: App, room: str) -> str:
    assert app.core is not None
    found = await app.core.store.get_room(room)
    assert found is not None
    return found.topic or ""


async def taken_back(app: App) -> None:
    """The owner takes mal's account back: a password change by HTTP, which revokes every
    login of the account."""
    async with http_client(app) as client:
        token = await login(client, "mal")
        r = await change_password(client, "taken-back", headers=bearer(token))
        assert r.status_code == 204, r.text


async def test_nothing_after_a_quit_is_handled(make_server: ServerFactory) -> None:
    app = await make_server(irc={"guests": True})
    async with http_client(app) as client:
        await register(client, "mal")
    mal = await joined(app, "mal", "den", password=PASSWORD)
    assert app.irc is not None
    (session,) = app.irc.clients_of("mal")
    stop_reading(app, mal.writer, "mal")
    mal.send(*["HELP"] * 10)  # output the client never takes: the close lingers
    mal.send("TOPIC #den :before", "QUIT :bye", "TOPIC #den :after the quit", "JOIN #after")
    async with asyncio.timeout(30):
        while not session.leaving:  # the QUIT is handled
            await asyncio.sleep(0.05)
    await handled(session)
    assert await topic_of(app, "den") == "before"
    assert app.core is not None
    assert await app.core.store.get_room("after") is None
    await mal.close()


async def test_a_revoked_login_runs_nothing_it_queued(make_server: ServerFactory) -> None:
    """The thief's commands wait behind a private message held by the rate limit when the
    owner changes the password: the session is told ERROR and closes, but its queue was
    still worked off with the account's rights: a MODE +k on its room, a JOIN making a room
    (its TOPIC and KICK were refused, the session being out of the room by then)."""
    app = await make_server(irc={"guests": True}, limits={"message_rate": 0.2, "message_burst": 1})
    async with http_client(app) as client:
        await register(client, "mal", "vic")
    mal = await joined(app, "mal", "den", password=PASSWORD)  # its owner: it made the room
    vic = await joined(app, "vic", "den", password=PASSWORD)
    assert app.irc is not None and app.core is not None
    (session,) = app.irc.clients_of("mal")
    stop_reading(app, mal.writer, "mal")
    mal.send(*["HELP"] * 20)  # output the thief never takes: the close lingers
    # the second message waits out the rate limit (5 s); the rest queues behind it
    mal.send(
        "PRIVMSG vic :one",
        "PRIVMSG vic :two",
        "TOPIC #den :pwned",
        "KICK #den vic :gone",
        "MODE #den +k stolen",
        "JOIN #taken",
    )
    await vic.expect("PRIVMSG vic one")
    async with asyncio.timeout(30):
        while len(session._pending or ()) < 3:
            await asyncio.sleep(0.05)
    await taken_back(app)
    assert session.leaving and not session.closed  # closing: its output is not all out
    await handled(session)
    assert await topic_of(app, "den") != "pwned"
    assert (await app.core.store.standing("den", "vic")).member
    den = await app.core.store.get_room("den")
    assert den is not None and den.settings.join_key == ""
    assert await app.core.store.get_room("taken") is None
    await mal.close()
    await vic.close()


async def test_a_revoked_login_s_long_join_stops(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`JOIN #a1,...,#a5` under way when the login is revoked: the rest of its channels were
    still joined, and made as rooms of the account. The store is slow on the second room
    here (held until the password has changed)."""
    app = await make_server(irc={"guests": True})
    async with http_client(app) as client:
        await register(client, "mal")
    mal = await joined(app, "mal", password=PASSWORD)
    assert app.irc is not None and app.core is not None
    (session,) = app.irc.clients_of("mal")
    second = HeldCall(
        monkeypatch, app.core.membership, "join", when=lambda s, name, *_, **__: name == "a2"
    )
    mal.send("JOIN #a1,#a2,#a3,#a4,#a5")
    await second.until_reached()
    await taken_back(app)
    second.let_go()  # revoked
    await handled(session)
    made = [name for name in ("a3", "a4", "a5") if await app.core.store.get_room(name)]
    assert made == []
    await mal.close()


async def test_a_topic_set_as_its_setter_is_kicked_does_not_keep_it_in_the_room(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOPIC stored the room it set among the session's rooms when the store answered, though
    a KICK had put it out meanwhile: the session counted itself in the private room, and
    WHO showed it the +i users there as sharing a room with it. The store is slow here on
    the topic's answer (held until the kick)."""
    app = await make_server(irc={"guests": True})
    assert app.irc is not None and app.core is not None
    olga = await joined(app, "olga", "priv")  # its owner
    ivy = await joined(app, "ivy")
    olga.send("MODE #priv +i-t", "MODE olga +i", "INVITE ivy #priv")
    await olga.expect(" 341 ")
    ivy.send("JOIN #priv")
    await ivy.expect(" 366 ivy #priv ")
    (session,) = app.irc.clients_of("ivy")
    answer = HeldCall(monkeypatch, app.core.moderation, "update", after=True)
    ivy.send("TOPIC #priv :mine")
    await answer.until_reached()
    olga.send("KICK #priv ivy :out")
    await ivy.expect(" KICK #priv ivy ")
    answer.let_go()  # kicked
    await handled(session)
    assert "priv" not in session.rooms
    ivy.send("WHO ol*")  # a mask: +i hides olga from those sharing no room with her
    end = await ivy.expect(" 315 ")
    assert not [line for line in ivy.lines if " 352 " in line], end
    await olga.close()
    await ivy.close()


async def test_a_revoked_login_s_mode_line_stops(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`MODE #den +o-o+b+k ...` under way when the login is revoked: the rest of its changes
    were still made. The store is slow on the first one here (held until the password has
    changed)."""
    app = await make_server(irc={"guests": True})
    async with http_client(app) as client:
        await register(client, "mal", "pal", "vic")
    mal = await joined(app, "mal", "den", password=PASSWORD)  # its owner: it made the room
    pal = await joined(app, "pal", "den", password=PASSWORD)
    vic = await joined(app, "vic", "den", password=PASSWORD)
    assert app.irc is not None and app.core is not None
    (session,) = app.irc.clients_of("mal")
    op = HeldCall(monkeypatch, app.core.moderation, "op")
    mal.send("MODE #den +obk pal vic stolen")
    await op.until_reached()
    await taken_back(app)
    op.let_go()  # revoked
    await handled(session)
    assert not (await app.core.store.standing("den", "vic")).banned
    den = await app.core.store.get_room("den")
    assert den is not None and den.settings.join_key == ""
    await mal.close()
    await pal.close()
    await vic.close()
