"""One away state for every door: telnet's /away and IRC's AWAY set the same one, IRC's WHOIS
and PRIVMSG replies (301) show a telnet user's, telnet's /who and /msg show an IRC user's.
And telnet's /list: every public room with who is online and its topic, as IRC's LIST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers.http import PASSWORD, bearer, http_client, login
from tests.helpers.irc import IrcUser, irc_user
from tests.irc.test_doors import telnet_user
from torbit.app import App


async def _whois_away(irc: IrcUser, nick: str) -> list[str]:
    """The away message(s) a WHOIS of `nick` shows (301), up to its end (318)."""

    def about(m: Any) -> bool:  # not a WHOIS pydle sends by itself on seeing a JOIN
        return len(m.params) > 1 and str(m.params[1]).lower() == nick.lower()

    await irc.settle()
    first = len(irc.seen)
    await irc.rawmsg("WHOIS", nick)
    await irc.expect("318", where=about)
    return [
        str(m.params[-1])
        for m in irc.seen[first:]
        if str(m.command).zfill(3) == "301" and about(m)
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
    tel.send("/who")
    await tel.expect(r"online in #lobby \(2\): ivy \(away: in a meeting\), tina \(away: out")
    tel.send("/msg ivy see you later")
    await tel.expect(r"^\* ivy is away: in a meeting$")

    tel.send("/away")
    await tel.expect(r"^\* you are back$")
    assert await _whois_away(ivy, "tina") == []
    await ivy.rawmsg("AWAY")
    await ivy.expect("305")
    tel.send("/who")
    await tel.expect(r"online in #lobby \(2\): ivy, tina$")


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
    await tel.expect(r"^  #dev  1 online, 1 member\(s\) - all welcome$")
    await tel.expect(r"^  #lobby  0 online, 1 member\(s\)$")
    await tel.expect(r"^\* 2 public room\(s\)$")
    assert not any("hideout" in line for line in tel.seen[-4:])
