"""A room's topic is kept with who set it and when, shown so on every door: IRC's 332 with
RPL_TOPICWHOTIME (333) on a JOIN and a TOPIC query (331 when there is none), telnet's join
line and /topic, HTTP's room (`topic_set_by`, `topic_set_at`). And the lengths IRC
advertises (TOPICLEN, KICKLEN, AWAYLEN) are the ones kept: a longer topic, kick reason or
away message is cut to them on every door that has it, never refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers.http import bearer, http_client, login
from tests.helpers.irc import RawIrc
from tests.irc.test_room_settings import telnet
from torbit.app import App
from torbit.core.moderation_limits import MAX_KICK_REASON_BYTES, MAX_TOPIC_BYTES
from torbit.core.presence_details import AWAY_MAX

TELNET_PASSWORD = "secret-pw"  # what TelnetClient.login registers with


async def raw_user(app: App, nick: str, cleanup: list[Any]) -> RawIrc:
    irc = await RawIrc.connect(app)
    cleanup.append(irc)
    await irc.register(nick)
    return irc


def trailing(line: str) -> str:
    """The last parameter of a line with a source (no colon before it if it needs none)."""
    return line.split(" :", 1)[1] if " :" in line else line.split()[-1]


def stamp(line: str) -> datetime:
    """The time a 333 line gives, as an aware datetime."""
    return datetime.fromtimestamp(int(line.split()[-1].lstrip(":")), UTC)


async def test_the_topics_setter_and_time_on_every_door(app: App, cleanup: list[Any]) -> None:
    """On main: no 333 on IRC, telnet named no setter, HTTP had no topic_set_by."""
    before = datetime.now(UTC).replace(microsecond=0)
    bob = await raw_user(app, "bob", cleanup)
    bob.send("JOIN #den", "TOPIC #den")
    assert "No topic is set" in await bob.expect(" 331 bob #den")
    bob.send("TOPIC #den :rules here")
    await bob.expect("TOPIC #den :rules here")
    after = datetime.now(UTC) + timedelta(seconds=1)

    amy = await raw_user(app, "amy", cleanup)
    amy.send("JOIN #den")
    assert trailing(await amy.expect(" 332 amy #den ")) == "rules here"
    whotime = await amy.expect(" 333 amy #den ")
    # bob is online: his mask, as InspIRCd and ergo give it (on main: "bob")
    assert whotime.split()[4] == "bob!~bob@irc.torbit", whotime
    assert before <= stamp(whotime) <= after, whotime
    await amy.expect(" 366 ")
    amy.send("TOPIC #den")  # a query: the same two lines
    assert trailing(await amy.expect(" 332 amy #den ")) == "rules here"
    assert (await amy.expect(" 333 amy #den ")).split()[4:] == whotime.split()[4:]

    tina = await telnet(app, "tina", cleanup)
    tina.send("/join den")
    shown = r"rules here \(set by bob on (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\)$"
    at = (await tina.expect(r"^\* topic: " + shown)).group(1)
    assert at == stamp(whotime).strftime("%Y-%m-%d %H:%M:%S")  # the server's zone is UTC
    tina.send("/topic")
    await tina.expect(r"^\* topic of #den: " + shown)

    async with http_client(app) as client:
        h = bearer(await login(client, "tina", TELNET_PASSWORD))
        den = (await client.get("/api/v1/rooms/den", headers=h)).json()
        assert den["topic"] == "rules here" and den["topic_set_by"] == "bob", den
        set_at = datetime.fromisoformat(den["topic_set_at"])
        assert set_at.replace(microsecond=0) == stamp(whotime)
        listed = (await client.get("/api/v1/rooms", headers=h)).json()["rooms"]
        assert [r["topic_set_by"] for r in listed if r["name"] == "den"] == ["bob"]
        # set over HTTP: the setter is the HTTP user, on IRC too
        assert (await client.post("/api/v1/rooms", json={"name": "hq"}, headers=h)).is_success
        r = await client.patch("/api/v1/rooms/hq", json={"topic": "plans"}, headers=h)
        assert r.json()["topic_set_by"] == "tina", r.text
        amy.send("JOIN #hq")
        assert (await amy.expect(" 333 amy #hq ")).split()[4] == "tina!tina@torbit"

        # once the setter is gone, the name the store keeps
        amy.send("JOIN #gone", "MODE #gone -t")
        await amy.expect("MODE #gone -t")
        gil = await raw_user(app, "gil", cleanup)
        gil.send("JOIN #gone", "TOPIC #gone :left behind")
        await amy.expect("TOPIC #gone :left behind")
        gil.send("QUIT")
        await amy.expect(" QUIT ")
        amy.send("TOPIC #gone")
        gone = await amy.expect(" 333 amy #gone ")
        assert gone.split()[4] == "gil", gone

        bob.send("TOPIC #den :")  # cleared: no setter, no time, on every door
        await amy.expect("TOPIC #den :")
        den = (await client.get("/api/v1/rooms/den", headers=h)).json()
        assert (den["topic"], den["topic_set_by"], den["topic_set_at"]) == ("", None, None)
    amy.send("TOPIC #den")
    await amy.expect(" 331 amy #den ")
    tina.send("/topic")
    await tina.expect(r"^\* #den has no topic$")
    cat = await raw_user(app, "cat", cleanup)
    start = len(cat.lines)
    cat.send("JOIN #den")
    await cat.expect(" 366 ")
    assert not [line for line in cat.lines[start:] if re.search(r" 33[123] ", line)], cat.lines


async def test_over_long_topics_kick_reasons_and_aways_are_cut_not_refused(
    app: App, cleanup: list[Any]
) -> None:
    """Cut to what ISUPPORT says, in bytes of UTF-8 at a character boundary, after cleaning
    (a control character becomes a 3-byte U+FFFD). On main: a kick reason of IRC formatting
    codes past 512 bytes once cleaned was refused, as a telnet topic past 512 bytes; HTTP
    refused a topic past 512 characters (422); TOPICLEN said 390, the store took 512."""
    bob = await raw_user(app, "bob", cleanup)
    burst = " ".join(bob.lines)
    for token in (
        f"TOPICLEN={MAX_TOPIC_BYTES}",
        f"KICKLEN={MAX_KICK_REASON_BYTES}",
        f"AWAYLEN={AWAY_MAX}",
        "CHANNELLEN=33",
        "NICKLEN=32",
    ):
        assert f" {token} " in burst, token
    assert (MAX_TOPIC_BYTES, MAX_KICK_REASON_BYTES, AWAY_MAX) == (390, 255, 200)

    # IRC: a topic of 2-byte characters, 480 bytes: 195 of them are kept
    bob.send("JOIN #den", "TOPIC #den :" + "é" * 240)
    assert trailing(await bob.expect("TOPIC #den ")) == "é" * 195
    amy = await raw_user(app, "amy", cleanup)
    amy.send("JOIN #den")
    await amy.expect(" 366 ")
    # a kick reason of bold and underline marks: each is shown as U+FFFD (3 bytes), so 85
    # "\x02\x1fx" (255 characters: what main kept) were 595 bytes, past main's 512
    bob.send("KICK #den amy :" + "\x02\x1fx" * 150)
    kick = trailing(await amy.expect("KICK #den amy "))
    assert kick == "\ufffd\ufffdx" * 36 + "\ufffd" and len(kick.encode()) == 255, kick
    # AWAY: 3-byte characters, 66 of them fit 200 bytes
    bob.send("AWAY :" + "€" * 100)
    await bob.expect(" 306 ")
    bob.send("WHOIS bob")
    assert trailing(await bob.expect(" 301 bob bob ")) == "€" * 66

    tina = await telnet(app, "tina", cleanup)
    tina.send("/create tt")
    await tina.expect(r"^\* you are in #tt")
    tina.send("/topic " + "ab" * 300)
    await tina.expect(r"^\* tina set the topic of #tt: (ab){195}$")
    tina.send("/away " + "€" * 100)
    await tina.expect(r"^\* you are marked away: €{66}$")
    async with http_client(app) as client:
        h = bearer(await login(client, "tina", TELNET_PASSWORD))
        r = await client.patch("/api/v1/rooms/tt", json={"topic": "\x1b" * 1000}, headers=h)
        assert r.status_code == 200 and r.json()["topic"] == "\ufffd" * 130, r.text
        r = await client.put("/api/v1/me/away", json={"message": "ü" * 150}, headers=h)
        assert r.json() == {"away": "ü" * 100}, r.text
