"""The core's rules as IRC clients meet them: guests, rate limits (fakelag, never a silent
drop), the profanity filter, mutes, private rooms; IRCv3 history; bad input and slow readers;
TLS."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, irc_user
from tests.helpers.slow_reader import stop_reading
from tests.helpers.telnet_client import TelnetClient
from tests.helpers.tls import tls_doors, trusting
from torbit.app import App

Accounts = Callable[..., Awaitable[None]]


async def telnet_in(app: App, name: str, room: str, cleanup: list[Any]) -> TelnetClient:
    assert app.telnet_port is not None
    tel = await TelnetClient.connect(app.telnet_port)
    cleanup.append(tel)
    await tel.login(name)
    tel.send(f"/join {room}")
    await tel.expect(rf"you are in #{room}")
    return tel


async def until(ask: Callable[[], Awaitable[object]], wanted: object) -> None:
    """Wait until `ask()` answers `wanted` (what follows a disconnect happens after it)."""
    async with asyncio.timeout(10):
        while await ask() != wanted:
            await asyncio.sleep(0.02)


# guests


async def test_guests_take_free_names_only_and_vanish_at_disconnect(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tina")
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send("NICK tina", "USER g 0 * :guest")
    await raw.expect(" 433 * tina ")  # a registered name
    raw.send("NICK admin")
    await raw.expect(" 432 * admin ")  # a reserved one
    raw.send("NICK gus")
    await raw.expect(" 376 gus ")
    assert app.core is not None
    assert await app.core.accounts.exists("gus")  # held while connected
    raw.send("NICK gus2")
    await raw.expect(":gus!~g@irc.torbit NICK gus2")
    assert not await app.core.accounts.exists("gus")
    raw.send("QUIT :bye")
    await raw.expect("ERROR")
    core = app.core
    await until(lambda: core.accounts.exists("gus2"), False)  # gone with the connection


async def test_a_guest_that_quit_is_no_such_nick_at_once(app: App, cleanup: list[Any]) -> None:
    """A guest's nick goes with its QUIT: a PRIVMSG sent right after (by a newcomer or by a
    client that saw the QUIT) gets 401, not a silent delivery to the account still being
    deleted (the door waits for the departure, as NICK and JOIN do). irctest's
    testPrivmsgNonexistentUser, whose `bar` quit the test before: without the wait it got
    no reply once a registration no longer read the store (branch logins)."""
    bar = await RawIrc.connect(app)
    cleanup.append(bar)
    await bar.register("bar")
    seen = await RawIrc.connect(app)
    cleanup.append(seen)
    await seen.register("seen")
    bar.send("QUIT :bye")
    await bar.expect("ERROR")
    foo = await RawIrc.connect(app)
    cleanup.append(foo)
    foo.send("NICK foo", "USER foo 0 * :foo", "CAP END", "PRIVMSG bar :hey there!")
    await foo.expect(" 401 foo bar ")
    seen.send("PRIVMSG bar :still there?")
    await seen.expect(" 401 seen bar ")
    bar = await RawIrc.connect(app)
    cleanup.append(bar)
    await bar.register("bar")
    bar.send("JOIN #here")
    await bar.expect(" 366 bar #here ")
    seen.send("JOIN #here")
    await seen.expect(" 366 seen #here ")
    bar.send("QUIT :bye")  # a client that does not wait for the ERROR
    assert (await seen.expect(" QUIT ")).startswith(":bar!")
    seen.send("PRIVMSG bar :and now?")
    await seen.expect(" 401 seen bar ")


async def test_a_client_whose_quit_was_answered_is_in_whowas(app: App, cleanup: list[Any]) -> None:
    """WHOWAS right after a QUIT was answered with ERROR names the client: the departure, worked
    off in a batch after the ERROR, is waited for. irctest's testWhowasCount1 failed 1 run in 3
    under load once registrations got faster (its WHOWAS came before the second nick2's
    departure was worked off); alone, this test's departures are quick enough to pass without
    the wait too, so it keeps the behaviour, and irctest in the suite the race."""
    asker = await RawIrc.connect(app)
    cleanup.append(asker)
    await asker.register("asker")
    for ident in ("first", "second"):
        gone = await RawIrc.connect(app)
        cleanup.append(gone)
        gone.send("NICK wasnick", f"USER {ident} 0 * :Realname")
        await gone.expect(" 001 ")
        gone.send("QUIT :bye")
        await gone.expect("ERROR")
        before = len(asker.lines)
        asker.send("WHOWAS wasnick 1")
        await asker.expect(" 369 ")
        reply = asker.lines[before:]
        assert any(f" 314 asker wasnick ~{ident} " in line for line in reply), reply


async def test_an_account_keeps_its_nick(app: App, accounts: Accounts, cleanup: list[Any]) -> None:
    await accounts("amy")
    amy = await irc_user(app, "x", sasl_username="amy", sasl_password=PASSWORD)
    cleanup.append(amy)
    await amy.rawmsg("NICK", "other")
    await amy.expect("447", "amy", "other")


async def test_a_guest_writes_to_an_account_only_in_answer(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await accounts("tina")
    tel = await telnet_in(app, "tina", "gen", cleanup)
    gus = await irc_user(app, "gus")
    cleanup.append(gus)
    await gus.message("tina", "hi, buy my stuff")
    await gus.expect("486", "gus", "tina")
    tel.send("/msg gus what stuff?")
    await gus.expect("PRIVMSG", "gus", "what stuff?")
    await gus.message("tina", "cheap stuff")
    await tel.expect(r"\(private\) <gus> cheap stuff")


async def test_a_guests_room_is_its_to_run_and_goes_with_its_people(
    app: App, cleanup: list[Any]
) -> None:
    gus = await irc_user(app, "gus", join=("#den",))
    cleanup.append(gus)
    assert gus.find("353", "gus", "=", "#den").params[3].startswith("@gus!")  # its admin
    ann = await irc_user(app, "ann", join=("#den",))
    cleanup.append(ann)
    await gus.rawmsg("MODE", "#den", "+o", "ann")  # admins of an ownerless room run it
    await ann.expect("MODE", "#den", "+o", "ann")
    await gus.rawmsg("MODE", "#den", "+i")
    await ann.expect("MODE", "#den", "+i")
    assert app.core is not None
    await gus.quit("bye")
    await ann.quit("bye")
    core = app.core
    await until(lambda: core.store.get_room("den"), None)


# limits and filters, as on every door


async def test_over_the_rate_limit_an_irc_client_is_slowed_not_dropped(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    app = await make_server(
        irc={"guests": True}, limits={"room_message_rate": 4, "room_message_burst": 2}
    )
    ann = await irc_user(app, "ann", join=("#gen",))
    gus = await RawIrc.connect(app)  # a bare socket: nothing spaces its lines out
    cleanup += [ann, gus]
    await gus.register("gus")
    gus.send("JOIN #gen", *[f"PRIVMSG #gen :line {i}" for i in range(12)], "PING done")
    await gus.expect("PONG")
    for i in range(12):
        await ann.expect("PRIVMSG", "#gen", f"line {i}")
    assert not [line for line in gus.lines if " 404 " in line or "dropped" in line]


async def test_profanity_mutes_and_private_rooms_apply_to_irc(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    app = await make_server(irc={"guests": True}, moderation={"profanity": "reject"})
    gus = await irc_user(app, "gus", join=("#gen",))
    ann = await irc_user(app, "ann", join=("#gen",))
    cleanup += [gus, ann]
    await ann.rawmsg("PRIVMSG", "#gen", "you are a shit")
    reply = await ann.expect("404", "ann", "#gen")
    assert "Cannot send" in reply.params[2]
    assert app.core is not None
    await app.core.moderation.mute("gus", "gen", "ann", 5)
    await gus.expect("NOTICE", "#gen", where=lambda m: "muted" in m.params[1])
    await ann.message("#gen", "hello?")
    assert "muted" in (await ann.expect("404", "ann", "#gen")).params[2]
    await gus.rawmsg("MODE", "#gen", "+i")
    await gus.expect("MODE", "#gen", "+i")
    late = await irc_user(app, "late")
    cleanup.append(late)
    await late.rawmsg("JOIN", "#gen")
    await late.expect("473", "late", "#gen")
    await gus.rawmsg("INVITE", "late", "#gen")
    await gus.expect("341", "gus", "late", "#gen")
    await late.expect("INVITE", "late", "#gen")
    await late.join("#gen")
    await late.expect("366", "late", "#gen")


# IRCv3 history


async def test_chathistory_pages_through_a_room(app: App, cleanup: list[Any]) -> None:
    gus = await irc_user(app, "gus", join=("#gen",))
    cleanup.append(gus)
    for i in range(10):
        await gus.message("#gen", f"m{i}")
    await gus.expect("PRIVMSG", "#gen", "m9")  # its echo: all ten are in the history
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send("CAP LS 302", "CAP REQ :batch server-time message-tags draft/chathistory")
    await raw.register("ann")
    raw.send("JOIN #gen")
    await raw.expect(" 366 ann #gen ")
    raw.send("CHATHISTORY LATEST #gen * 3")
    await raw.expect("BATCH +")
    latest = [await raw.expect("PRIVMSG #gen") for _ in range(3)]
    await raw.expect("BATCH -")
    assert [line.rsplit(" ", 1)[1] for line in latest] == ["m7", "m8", "m9"]
    assert all("time=" in line and "msgid=gen-" in line for line in latest)
    first_id = latest[0].split("msgid=")[1].split(";")[0].split(" ")[0]
    raw.send(f"CHATHISTORY BEFORE #gen msgid={first_id} 2")
    before = [await raw.expect("PRIVMSG #gen") for _ in range(2)]
    assert [line.rsplit(" ", 1)[1] for line in before] == ["m5", "m6"]
    raw.send(f"CHATHISTORY AFTER #gen msgid={first_id} 5")
    after = [await raw.expect("PRIVMSG #gen") for _ in range(2)]
    assert [line.rsplit(" ", 1)[1] for line in after] == ["m8", "m9"]
    raw.send(f"CHATHISTORY AROUND #gen msgid={first_id} 3")
    around = [await raw.expect("PRIVMSG #gen") for _ in range(3)]
    assert [line.rsplit(" ", 1)[1] for line in around] == ["m6", "m7", "m8"]
    # the page holds the message referred to (irctest's AROUND): alone, or one before it
    raw.send(f"CHATHISTORY AROUND #gen msgid={first_id} 1")
    await raw.expect("BATCH +")
    one = await raw.expect(" #gen")
    assert one.rsplit(" ", 1)[1] == "m7", one
    raw.send(f"CHATHISTORY AROUND #gen msgid={first_id} 4")
    await raw.expect("BATCH +")
    four = [await raw.expect("PRIVMSG #gen") for _ in range(4)]
    assert [line.rsplit(" ", 1)[1] for line in four] == ["m6", "m7", "m8", "m9"]
    raw.send("CHATHISTORY LATEST #nowhere * 3")
    await raw.expect("FAIL CHATHISTORY INVALID_TARGET")
    raw.send("CHATHISTORY LATEST #gen * 0")
    await raw.expect("FAIL CHATHISTORY INVALID_PARAMS")


# bad input


async def test_bad_input_gets_a_numeric_or_error_and_the_connection_goes_on(
    app: App, cleanup: list[Any]
) -> None:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send("JOIN #early")
    await raw.expect(" 451 ")
    await raw.register("gus")
    raw.send("FROBNICATE x")
    await raw.expect(" 421 gus FROBNICATE ")
    raw.send("JOIN")
    await raw.expect(" 461 gus JOIN ")
    raw.send("PRIVMSG #gen :" + "x" * 600)
    await raw.expect(" 417 gus ")
    raw.send_raw(b"PRIVMSG a\0b :nul\r\n")
    await raw.expect("NUL byte")
    raw.send("JOIN #bad!name")
    await raw.expect(" 403 gus #bad!name ")
    raw.send("MODE #nowhere +o gus", "KICK #nowhere gus", "TOPIC #nowhere :x")
    for _ in range(3):
        await raw.expect(" 403 gus #nowhere ")
    raw.send("PRIVMSG gus :\x01VERSION\x01")
    await raw.expect("CTCP VERSION is not carried")
    raw.send_raw(b"PRIVMSG gus :caf\xe9\r\n")  # Latin-1: read as such, nothing lost
    await raw.expect("PRIVMSG gus café")
    raw.send("PING still-here")
    await raw.expect("PONG")


async def test_a_slow_reader_is_dropped_and_nobody_else_waits(
    make_server: ServerFactory, accounts: Accounts, cleanup: list[Any]
) -> None:
    app = await make_server(irc={"guests": True, "max_output_buffer": 8192})
    slow = await RawIrc.connect(app)
    cleanup.append(slow)
    await slow.register("slow")
    slow.send("JOIN #lobby")
    await slow.expect(" 366 slow #lobby ")
    stop_reading(app, slow.writer, "slow")  # and never reads again
    fast = await irc_user(app, "fast", join=("#lobby",))
    cleanup.append(fast)
    assert app.telnet_port is not None
    alice = await TelnetClient.connect(app.telnet_port)
    cleanup.append(alice)
    await alice.login("alice")
    drops = app.metrics.dropped_clients.labels("irc")
    # up to ~7.5 MB for the slow reader: far beyond the kernel's buffers and 8 KB; a few
    # hundred more once it is dropped, not the rest. fast reads every 60 KB, well within what
    # a door holds for a reader (8 KB here, and the kernel's capped send buffer)
    n, dropped_at = 2500, None
    for i in range(n):
        alice.send(f"{i} " + "x" * 3000)
        if i % 20 == 0:
            await fast.expect("PRIVMSG", "#lobby", where=starts_with(f"{i} "))
            if dropped_at is None and drops._value.get():
                dropped_at = i
            elif dropped_at is not None and i >= dropped_at + 250:
                break  # fast has had them all: this was the last
    else:
        await fast.expect("PRIVMSG", "#lobby", where=lambda m: m.params[1].startswith(f"{n - 1} "))
    await fast.settle()
    (quit_,) = [m for m in fast.received("QUIT") if m.source.startswith("slow!")]
    assert "too slow" in quit_.params[0]
    assert app.metrics.dropped_clients.labels("irc")._value.get() == 1
    assert app.core is not None
    assert "slow" not in app.core.membership.online("lobby")


# TLS


async def test_irc_over_tls(make_server: ServerFactory, tmp_path: Path) -> None:
    ca, irc_tls, _ = tls_doors(tmp_path)
    app = await make_server(irc={"guests": True, **irc_tls})
    assert app.irc_tls_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", app.irc_tls_port, ssl=trusting(ca), server_hostname="127.0.0.1"
    )
    raw = RawIrc(reader, writer)
    await raw.register("secure")
    raw.send("WHOIS secure")
    await raw.expect(" 318 secure secure ")
    await raw.close()


# the server itself


async def test_links_and_whois_describe_the_server_as_configured(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    app = await make_server(irc={"guests": True, "server_description": "a test chat"})
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    await raw.register("desc")
    raw.send("LINKS")
    await raw.expect(" 364 desc torbit torbit :0 a test chat")
    await raw.expect(" 365 desc * :End of /LINKS list")
    raw.send("WHOIS desc")
    await raw.expect(" 312 desc desc torbit :a test chat")


async def test_a_ping_too_long_to_echo_still_gets_a_pong(app: App, cleanup: list[Any]) -> None:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    await raw.register("pinger")
    raw.send("PING " + "x" * 505)  # 510 bytes: the longest line a client may send
    line = await raw.expect(" PONG torbit ")
    assert len(line.encode()) <= 510
    assert "x" * 450 in line


async def test_the_creator_of_a_guest_room_may_step_down(app: App, cleanup: list[Any]) -> None:
    foo = await RawIrc.connect(app)
    cleanup.append(foo)
    await foo.register("foo")
    foo.send("JOIN #stepdown", "MODE #stepdown +i")
    await foo.expect("MODE #stepdown +i")
    foo.send("MODE #stepdown -o foo")
    await foo.expect(":foo!~foo@irc.torbit MODE #stepdown -o foo")
    foo.send("INVITE bar #stepdown")  # only admins invite to an invite-only room
    await foo.expect(" 482 foo #stepdown ")


def starts_with(prefix: str) -> Callable[[Any], bool]:
    """A message whose text starts with `prefix`."""
    return lambda m: bool(m.params[1].startswith(prefix))
