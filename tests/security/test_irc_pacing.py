"""IRC command pacing (frontends/irc/pacing.py), as a hostile client and a real client's
connect burst would meet it, on real sockets. Before, a client could send any number of
cheap commands (WHO, ISON, CAP LS, PING, ...) as fast as it liked: each was answered at once,
and a JOIN of 60 channels refused by the rates answered 55 error numerics for one line.
Counted, never timed: a rate of one unit every 1,000 s lets nothing more go during a test,
and the door's own counters say what it held back."""

from __future__ import annotations

import asyncio
import base64

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, joined
from torbit.app import App
from torbit.config import LimitsConfig
from torbit.frontends.irc.pacing import ERRORS_SHOWN
from torbit.frontends.irc.session import IrcSession

FROZEN = 0.001  # units a second: one every 1,000 s, nothing refills during a test


def delayed(app: App) -> float | None:
    return app.metrics.registry.get_sample_value("torbit_irc_commands_delayed_total")


def floods(app: App) -> float | None:
    return app.metrics.registry.get_sample_value("torbit_irc_excess_flood_total")


def session_of(app: App, nick: str) -> IrcSession:
    assert app.irc is not None
    return next(s for s in app.irc.sessions if s.nick == nick)


async def until(condition: object, what: str) -> None:
    """Wait (a bounded number of loop turns) for a server-side condition."""
    assert callable(condition)
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never: {what}")


async def first_of(raw: RawIrc, *needles: str) -> str:
    """The next line holding any of `needles` (so a test fails on a line, not a timeout)."""
    while True:
        line = await raw.expect("")
        if any(needle in line for needle in needles):
            return line


async def users(app: App, *names: str) -> None:
    assert app.core is not None
    for name in names:
        await app.core.accounts.register(name, PASSWORD)


async def test_a_flood_of_who_is_answered_at_the_rate_and_others_are_not_slowed(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"irc_command_rate": FROZEN, "irc_command_burst": 20})
    await users(app, "alice", "bob")
    alice = await joined(app, "alice", "den", password=PASSWORD)  # 4 units + JOIN 1
    bob = await joined(app, "bob", "den", password=PASSWORD)
    alice.send(*["WHO bob"] * 500)  # 2 units each: 5 + 14 = 19 lets an 8th run (to 21)
    await until(lambda: delayed(app) == 1, "alice's next WHO held back")
    session = session_of(app, "alice")
    assert session._pending is not None and len(session._pending) == 500 - 8
    for _ in range(8):
        await alice.expect(" 315 alice bob ")
    # bob has his own allowance: his questions are answered at once, and he talks
    bob.send("PING :bob", "PRIVMSG #den :still here")
    await bob.expect("PONG")
    assert (await alice.expect("PRIVMSG #den")).endswith(":still here")
    assert delayed(app) == 1
    assert session._pending is not None and len(session._pending) == 500 - 8
    assert sum(" 315 " in line for line in alice.lines) == 8  # nothing else answered
    await alice.close()
    await bob.close()


async def test_a_backlog_past_the_limit_is_an_excess_flood_and_the_room_talks_on(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"irc_command_rate": 10.0, "irc_flood_lines": 100})
    await users(app, "mallory", "bob", "carol")
    bob = await joined(app, "bob", "den", password=PASSWORD)
    carol = await joined(app, "carol", "den", password=PASSWORD)
    mallory = await joined(app, "mallory", "den", password=PASSWORD)
    await bob.expect(" JOIN #den")  # mallory's
    mallory.send(*["PING x"] * 500, "PING :end")  # one write: 501 commands at once
    error = await first_of(mallory, "ERROR", "PONG torbit end")
    assert error == "ERROR :Closing link: irc.torbit (Excess Flood)"
    assert await mallory.reader.read() == b""  # and closed
    assert sum("PONG" in line for line in mallory.lines) == 0  # none of the flood answered
    assert (await bob.expect("QUIT")).startswith(":mallory!")
    assert bob.lines[-1].endswith(" QUIT :Quit: Excess Flood")  # as a ping timeout is shown
    bob.send("PRIVMSG #den :is it quiet now?")
    assert (await carol.expect("PRIVMSG #den")).endswith(":is it quiet now?")
    assert floods(app) == 1
    await bob.close()
    await carol.close()


async def test_a_realistic_connect_burst_is_never_held_back(make_server: ServerFactory) -> None:
    """SASL, then 30 JOINs and, for each channel, MODE, WHO (WHOX) and MODE b, as irssi,
    WeeChat and HexChat ask on connect: ~160 units of the default 300."""
    defaults = LimitsConfig()  # the pacing as shipped (the tests' settings lift it)
    pacing = {
        "irc_command_rate": defaults.irc_command_rate,
        "irc_command_burst": defaults.irc_command_burst,
    }
    app = await make_server(limits={"join_rate": 0, "create_rate": 0, **pacing})
    await users(app, "alice")
    alice = await RawIrc.connect(app)
    alice.send(
        "CAP LS 302",
        "NICK alice",
        "USER alice 0 * :Alice",
        "CAP REQ :multi-prefix away-notify account-tag extended-join sasl server-time",
        "AUTHENTICATE PLAIN",
    )
    await alice.expect("AUTHENTICATE +")
    token = base64.b64encode(f"alice\0alice\0{PASSWORD}".encode()).decode()
    alice.send(f"AUTHENTICATE {token}", "CAP END")
    await alice.expect(" 376 ")
    rooms = [f"#room{i}" for i in range(30)]
    alice.send(*[f"JOIN {r}" for r in rooms])
    alice.send(
        *[line for r in rooms for line in (f"MODE {r}", f"WHO {r} %tcuhnfdar,743", f"MODE {r} b")]
    )
    for r in rooms:
        await alice.expect(f" 368 alice {r} ")  # each channel's last answer
    assert sum(" 315 " in line for line in alice.lines) == 30
    assert delayed(app) == 0
    await alice.close()


async def test_a_refused_multi_target_join_answers_ten_errors_and_pays_for_all(
    make_server: ServerFactory,
) -> None:
    app = await make_server(
        limits={
            "create_rate": FROZEN,
            "create_burst": 1,
            "irc_command_rate": FROZEN,
            "irc_command_burst": 150,
        }
    )
    await users(app, "alice")
    alice = await joined(app, "alice", password=PASSWORD)  # 4 units
    alice.send("JOIN " + ",".join(f"#new{i}" for i in range(60)), "PING :joined")  # 1 + 59
    notice = await first_of(alice, " more error(s)", "PONG torbit joined")
    refused = [line for line in alice.lines if " 437 " in line]
    assert len(refused) == ERRORS_SHOWN  # on main: 59, one a channel past the create rate
    assert notice.endswith(
        f":{59 - ERRORS_SHOWN} more error(s) of that command not shown (at most 10 a command)"
    )
    # the 59 errors were paid for, shown or not: 4 + 60 + 59 + 1 (PING) = 124 of 150 spent
    alice.send(*["PING x"] * 40)
    await until(lambda: delayed(app) == 1, "a PING held back")
    answered = 150 - 124 + 1
    for _ in range(answered):
        await alice.expect("PONG")
    session = session_of(app, "alice")
    assert session._pending is not None and len(session._pending) == 40 - answered
    await alice.close()


async def test_cap_ls_and_ison_are_charged(make_server: ServerFactory) -> None:
    app = await make_server(limits={"irc_command_rate": FROZEN, "irc_command_burst": 30})
    await users(app, "alice", "bob")
    # CAP LS asked again and again (before registration the door closes the connection at
    # the eleventh: tests/security/test_irc_preregistration.py)
    bob = await joined(app, "bob", password=PASSWORD)  # 4 units
    bob.send(*["CAP LS 302"] * 100)  # 1 unit each: 4 + 27 = 31 lets the 27th run
    await until(lambda: delayed(app) == 1, "a CAP LS held back")
    for _ in range(27):
        await bob.expect(" LS ")
    await bob.close()
    # ISON of 100 nicks: 1 + 10 units each
    alice = await joined(app, "alice", password=PASSWORD)  # 4 units
    nicks = " ".join(f"n{i}" for i in range(100))
    alice.send(*[f"ISON {nicks}"] * 10)  # 4 + 11 + 11 = 26: the third runs, the fourth waits
    await until(lambda: delayed(app) == 2, "an ISON held back")
    for _ in range(3):
        await alice.expect(" 303 ")
    session = session_of(app, "alice")
    assert session._pending is not None and len(session._pending) == 7
    await alice.close()


async def test_an_operator_is_not_paced(make_server: ServerFactory) -> None:
    app = await make_server(limits={"irc_command_rate": FROZEN, "irc_command_burst": 20})
    await users(app, "boss")
    assert app.core is not None
    await app.core.accounts.set_admin("boss", True)
    boss = await joined(app, "boss", password=PASSWORD)
    boss.send(f"OPER boss {PASSWORD}")
    await boss.expect(" 381 ")
    boss.send(*["PING x"] * 100, "PING :end")
    await boss.expect("PONG torbit end")
    assert sum("PONG" in line for line in boss.lines) == 101
    assert delayed(app) == 0
    await boss.close()
