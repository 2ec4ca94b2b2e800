"""One away state for every door: telnet's /away and IRC's AWAY set the same one, IRC's WHOIS
and PRIVMSG replies (301) show a telnet user's, telnet's /who and /msg show an IRC user's; a
change is told to whoever shares a room (IRC away-notify, the WebSocket, a telnet notice),
cleaned, cut to AWAYLEN and rate limited. And telnet's /list: every public room with who is
online and its topic, as IRC's LIST."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import connect

from tests.helpers.http import PASSWORD, bearer, error_of, http_client, login, ws_url
from tests.helpers.irc import IrcUser, RawIrc, irc_user
from tests.irc.conftest import ws_expect, ws_subscribe, ws_user
from tests.irc.test_doors import telnet_user
from torbit.app import App
from torbit.core.presence_details import AWAY_MAX


async def _whois_away(irc: IrcUser, nick: str) -> list[str]:
    """The away message(s) a WHOIS of `nick` shows (301), up to its end (318)."""

    def about(m: Any) -> bool:  # not a WHOIS pydle sends by itself on seeing a JOIN
        return len(m.params) > 1 and str(m.params[1]).lower() == nick.lower()

    await irc.settle()
    first = len(irc.seen)
    await irc.rawmsg("WHOIS", nick)
    await irc.expect("318", where=about)
    return [
        str(m.params[-1]) for m in irc.seen[first:] if str(m.command).zfill(3) == "301" and about(m)
    ]


async def test_telnet_and_irc_share_one_away_state(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    await accounts("ivy")  # a guest may not write to tina first
    tel = await telnet_user(app, "tina", "lobby", cleanup)
    ivy = await irc_user(app, "x", sasl_username="ivy", sasl_password=PASSWORD, join=("#lobby",))
    cleanup.append(ivy)
    await tel.expect(r"\* ivy joined #lobby")
    assert await _whois_away(ivy, "tina") == []

    tel.send("/away out for lunch")
    await tel.expect(r"^\* you are marked away: out for lunch$")
    assert await _whois_away(ivy, "tina") == ["out for lunch"]
    async with http_client(app) as client:  # the members API says it too
        r = await client.get(
            "/api/v1/rooms/lobby/members", headers=bearer(await login(client, "ivy"))
        )
        assert r.status_code == 200 and r.json()["away"] == {"tina": "out for lunch"}, r.text
    await ivy.message("tina", "are you there?")
    assert (await ivy.expect("301", "ivy", "tina")).params[-1] == "out for lunch"
    await ivy.rawmsg("WHO", "#lobby")
    tina = await ivy.expect("352", where=lambda m: m.params[5] == "tina")
    assert tina.params[6].startswith("G")  # gone: away

    await ivy.rawmsg("AWAY", "in a meeting")
    await ivy.expect("306")
    await tel.expect(r"^\* ivy is away: in a meeting$")  # told as it happens
    tel.send("/who")
    await tel.expect(r"here in #lobby \(2\): ivy \(away: in a meeting\), tina \(away: out")
    tel.send("/msg ivy see you later")
    await tel.expect(r"^\* ivy is away: in a meeting$")

    tel.send("/away")
    await tel.expect(r"^\* you are back$")
    assert await _whois_away(ivy, "tina") == []
    await ivy.rawmsg("AWAY")
    await ivy.expect("305")
    tel.send("/who")
    await tel.expect(r"here in #lobby \(2\): ivy, tina$")


async def test_an_away_change_on_any_door_is_told_to_those_sharing_a_room(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    """IRC's away-notify was sent for an IRC AWAY only: a telnet /away reached no IRC client,
    and the WebSocket had no event for it (on main: no AWAY line reached ivy)."""
    await accounts("ivy", "wes", "otto")
    tel = await telnet_user(app, "tina", "lobby", cleanup)
    ivy = await irc_user(app, "x", sasl_username="ivy", sasl_password=PASSWORD, join=("#lobby",))
    cleanup.append(ivy)
    assert "away-notify" in ivy._capabilities  # pydle asks for it
    raw = await RawIrc.connect(app)  # asks for no capability
    cleanup.append(raw)
    await raw.register("rex")
    raw.send("JOIN #lobby")
    await raw.expect(" 366 ")
    wes = await ws_user(app, "wes")
    cleanup.append(wes)
    await ws_subscribe(wes, "lobby")
    otto = await ws_user(app, "otto")  # in another room: told nothing
    cleanup.append(otto)
    await ws_subscribe(otto, "den")

    tel.send("/away out for lunch")
    await tel.expect(r"^\* you are marked away: out for lunch$")
    said = await ivy.expect("AWAY")
    assert said.source.startswith("tina!") and said.params == ["out for lunch"]
    frame = await ws_expect(wes, "away")
    assert frame == {
        "type": "away",
        "user": "tina",
        "away": "out for lunch",
        "text": "tina is away: out for lunch",
    }
    tel.send("/away")
    await tel.expect(r"^\* you are back$")
    said = await ivy.expect("AWAY")
    assert said.source.startswith("tina!") and said.params == []
    assert (await ws_expect(wes, "away"))["away"] is None

    await ivy.rawmsg("AWAY", "in a meeting")  # from IRC: the telnet and WebSocket users hear it
    await ivy.expect("306")
    await tel.expect(r"^\* ivy is away: in a meeting$")
    assert (await ws_expect(wes, "away"))["user"] == "ivy"
    raw.send("PING :sync")
    await raw.expect("PONG")
    assert not [line for line in raw.lines if line.split(" ")[1:2] == ["AWAY"]]  # no cap: none
    await otto.send('{"type": "ping"}')
    await ws_expect(otto, "pong")  # the away events were sent before it: none came
    await ivy.settle()
    assert not [m for m in ivy.received("AWAY") if m.source.startswith("ivy!")]


async def test_away_messages_are_bounded_and_cleaned_and_changes_rate_limited(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    """An away message went out as typed, control characters too, and an away toggled in a
    loop was told to every room each time (on main: no limit; the ESC reached telnet)."""
    await accounts("ivy")
    tel = await telnet_user(app, "tina", "lobby", cleanup)
    ivy = await irc_user(app, "x", sasl_username="ivy", sasl_password=PASSWORD, join=("#lobby",))
    cleanup.append(ivy)
    burst = app.settings.limits.away_burst

    tel.send("/away " + "x" * 1000)
    await tel.expect(rf"^\* you are marked away: x{{{AWAY_MAX}}}$")
    assert (await ivy.expect("AWAY")).params == ["x" * AWAY_MAX]
    await ivy.rawmsg("AWAY", "\x1b[2J" + "y" * 300)  # an ANSI escape that clears a screen
    await ivy.expect("306")
    await tel.expect(rf"^\* ivy is away: \ufffd\[2Jy{{{AWAY_MAX - 6}}}$")  # U+FFFD is 3 bytes

    for i in range(burst - 1):  # tina has spent one change; ivy one
        tel.send(f"/away {i}")
        await tel.expect(rf"^\* you are marked away: {i}$")
        await ivy.rawmsg("AWAY", f"{i}" if i % 2 else "")
        await ivy.expect("305" if i % 2 == 0 else "306")
    tel.send("/away once more")
    await tel.expect(r"slow down: too many away changes")
    tel.send(f"/away {burst - 2}")  # the state it is in: no change, nothing spent
    await tel.expect(rf"^\* you are marked away: {burst - 2}$")
    await ivy.rawmsg("AWAY", "once more")
    notice = await ivy.expect("NOTICE", where=lambda m: "AWAY not changed" in m.params[-1])
    assert "slow down" in notice.params[-1]
    await ivy.settle()
    told = [m.params for m in ivy.received("AWAY") if m.source.startswith("tina!")]
    assert len(told) == burst and told[-1] == [str(burst - 2)]  # the refused one was not told


async def test_telnet_list_shows_every_public_room_with_its_topic(
    app: App, cleanup: list[Any]
) -> None:
    tel = await telnet_user(app, "tina", "lobby", cleanup)
    tel.send("/create hideout private")
    await tel.expect(r"^\* you are in #hideout")
    tel.send("/join dev")
    await tel.expect(r"^\* you are in #dev")
    tel.send("/topic all welcome")
    await tel.expect(r"all welcome")
    tel.send("/help")
    await tel.expect(r"^  /list ")
    await tel.expect(r"^  /away \[MESSAGE\]")
    tel.send("/list")
    await tel.expect(r"^  #dev  1 member, 1 in the room now - all welcome$")
    await tel.expect(r"^  #lobby  1 member, 0 in the room now$")
    await tel.expect(r"^\* 2 public rooms$")
    assert not any("hideout" in line for line in tel.seen[-4:])


async def test_a_users_own_other_sessions_are_told_of_their_away_changes(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    """On main only the session that set it heard of it: ivy's other IRC connection, her
    telnet and her web page showed nothing (no 306, no line, no frame)."""
    await accounts("ivy")
    one = await irc_user(app, "x", sasl_username="ivy", sasl_password=PASSWORD)
    cleanup.append(one)
    two = await irc_user(app, "y", sasl_username="ivy", sasl_password=PASSWORD)
    cleanup.append(two)
    tel = await telnet_user(app, "ivy", "lobby", cleanup)
    web = await ws_user(app, "ivy")
    cleanup.append(web)

    await one.rawmsg("AWAY", "at lunch")  # from IRC: the others are told
    await one.expect("306")
    await two.expect("306")
    await tel.expect(r"^\* you are marked away: at lunch$")
    assert await ws_expect(web, "away") == {
        "type": "away",
        "user": "ivy",
        "away": "at lunch",
        "text": "you are marked away: at lunch",
    }
    tel.send("/away")  # from telnet
    await tel.expect(r"^\* you are back$")
    await one.expect("305")
    await two.expect("305")
    assert (await ws_expect(web, "away"))["away"] is None

    await web.send(json.dumps({"type": "away", "text": "on the phone"}))  # from the web page
    assert (await ws_expect(web, "away"))["away"] == "on the phone"  # its answer
    await tel.expect(r"^\* you are marked away: on the phone$")
    await two.expect("306")
    async with http_client(app) as client:  # from HTTP, without a session: all are told
        h = bearer(await login(client, "ivy"))
        assert (await client.get("/api/v1/me/away", headers=h)).json() == {"away": "on the phone"}
        assert (await client.delete("/api/v1/me/away", headers=h)).status_code == 204
        assert (await client.get("/api/v1/me/away", headers=h)).json() == {"away": None}
    await tel.expect(r"^\* you are back$")
    assert (await ws_expect(web, "away"))["away"] is None
    await one.expect("305")
    await two.rawmsg("AWAY", "gone")
    await two.expect("306")
    await tel.expect(r"^\* you are marked away: gone$")
    three = await irc_user(app, "z", sasl_username="ivy", sasl_password=PASSWORD)
    cleanup.append(three)
    await three.expect("306")  # a new connection is told at registration, after the MOTD
    late = await telnet_user(app, "ivy", "lobby", cleanup)
    await late.expect(r"^\* you are marked away: gone$")  # and a new telnet session at login
    await one.expect("306")
    await one.settle()
    await two.settle()  # each connection had one reply per change, its own or told
    assert [str(m.command) for m in one.seen if str(m.command) in ("305", "306")] == [
        "306",
        "305",
        "306",
        "305",
        "306",
    ]
    assert not one.received("AWAY")  # its own change is no away-notify for it
    assert len([line for line in tel.seen if "you are" in line and "#" not in line]) == 5


async def test_away_over_http_is_limited_bounded_and_needs_a_session(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    """PUT and DELETE /api/v1/me/away (404 on main), and the WebSocket's away frame."""
    await accounts("ivy", "hal")
    async with http_client(app) as client:
        h = bearer(await login(client, "hal"))
        # no session anywhere: nobody would see it. A token from POST /api/v1/sessions is no
        # such session: the answer says which are ("while you have a session" left hal, who
        # had just made one, guessing: first57)
        said = error_of(await client.put("/api/v1/me/away", json={"message": "x"}, headers=h), 409)
        assert said == (
            "you are not online: away is shown only while you are connected "
            "(telnet, IRC or a WebSocket)"
        )
        tel = await telnet_user(app, "hal", "lobby", cleanup)
        ivy = await irc_user(
            app, "x", sasl_username="ivy", sasl_password=PASSWORD, join=("#lobby",)
        )
        cleanup.append(ivy)
        r = await client.put(
            "/api/v1/me/away", json={"message": "\x1b[2J" + "z" * 100_000}, headers=h
        )
        assert r.status_code == 413, r.text  # past the body limit
        r = await client.put("/api/v1/me/away", json={"message": "\x1b[2J" + "z" * 1000}, headers=h)
        assert r.json() == {"away": "\ufffd[2J" + "z" * (AWAY_MAX - 6)}, r.text
        assert (await ivy.expect("AWAY")).params == ["\ufffd[2J" + "z" * (AWAY_MAX - 6)]
        await tel.expect(r"^\* you are marked away: \ufffd\[2Jz+$")
        r = await client.put("/api/v1/me/away", json={"message": " \t "}, headers=h)
        assert r.json() == {"away": None}  # blank: back
        burst = app.settings.limits.away_burst
        for i in range(burst - 2):
            r = await client.put("/api/v1/me/away", json={"message": f"{i}"}, headers=h)
            assert r.status_code == 200, r.text
        r = await client.put("/api/v1/me/away", json={"message": "more"}, headers=h)
        assert "slow down" in error_of(r, 429) and int(r.headers["Retry-After"]) >= 1
        error_of(await client.delete("/api/v1/me/away", headers=h), 429)  # one budget
        tel.send("/away from telnet")  # shared with every door
        await tel.expect(r"slow down: too many away changes")
        await ivy.settle()
        assert len([m for m in ivy.received("AWAY") if m.source.startswith("hal!")]) == burst

        error_of(await client.put("/api/v1/me/away", json={"message": 5}, headers=h), 422)
        assert (await client.delete("/api/v1/sessions/current", headers=h)).status_code == 204
        r = await client.put("/api/v1/me/away", json={"message": "x"}, headers=h)
        error_of(r, 401)  # logged out
        error_of(await client.put("/api/v1/me/away", json={"message": "x"}), 401)
    web = await connect(ws_url(app))  # not authenticated yet: no away
    cleanup.append(web)
    await web.send(json.dumps({"type": "away", "text": "x"}))
    assert "authenticate first" in (await ws_expect(web, "error"))["message"]
