"""IRC operators through the real door (pydle clients, a telnet user): OPER with a server
admin's account, KILL across doors, WALLOPS, and the attacks: guessed passwords (throttled),
OPER by an account that is no admin, KILL by a non-operator, and a session left open after
the admin flag is taken away or the password changed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import IrcUser, irc_user
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App

Accounts = Callable[..., Awaitable[None]]


async def admin(app: App, accounts: Accounts, name: str = "boss") -> None:
    await accounts(name)
    assert app.core is not None
    await app.core.accounts.set_admin(name, True)  # as `torbit user set-admin`


async def oper_up(user: IrcUser, name: str = "boss", password: str = PASSWORD) -> Any:
    await user.rawmsg("OPER", name, password)
    return await user.expect("381")


async def test_oper_makes_a_guest_an_operator_of_the_admin_account(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await admin(app, accounts)
    await accounts("plain")
    ivy = await irc_user(app, "ivy", join=("#ops",))
    cleanup.append(ivy)
    una = await irc_user(app, "una", join=("#ops",))
    cleanup.append(una)

    await ivy.rawmsg("OPER", "boss", "not-the-password")
    assert (await ivy.expect("464", "ivy")).params[1] == "Password incorrect"
    await ivy.rawmsg("OPER", "plain", PASSWORD)  # a real account, but no server admin
    assert "not a server admin" in (await ivy.expect("491", "ivy")).params[1]
    await ivy.rawmsg("OPER", "boss")
    await ivy.expect("461", "ivy", "OPER")

    assert "boss" in (await oper_up(ivy)).params[1]
    mode = await ivy.expect("MODE", "ivy")
    assert mode.params[1] == "+o"

    await una.rawmsg("WHO", "ivy")
    assert (await una.expect("352", "una")).params[6] == "H*"
    await una.rawmsg("WHO", "#ops")
    flags = {}
    for _ in range(2):
        reply = await una.expect("352", "una", "#ops")
        flags[reply.params[5]] = reply.params[6]
    assert flags["ivy"].startswith("H*") and "*" not in flags["una"]
    await una.rawmsg("WHOIS", "ivy")
    await una.expect("313", "una", "ivy")
    await una.rawmsg("LUSERS")
    assert (await una.expect("252", "una")).params[1] == "1"
    await ivy.rawmsg("MODE", "ivy")
    assert "o" in (await ivy.expect("221", "ivy")).params[1]

    await ivy.rawmsg("MODE", "ivy", "-o")  # giving it up
    await ivy.expect("MODE", "ivy", "-o")
    await una.rawmsg("WHOIS", "ivy")
    await una.expect("318", "una", "ivy")
    await una.settle()
    # the last WHOIS answered (ours, or one pydle sent itself later): no 313 in it now
    whois = [str(m.command).zfill(3) for m in una.seen if m.params[1:2] == ["ivy"]]
    last = len(whois) - 1 - whois[::-1].index("311")
    assert "313" not in whois[last:]

    assert app.core is not None
    audit = await app.core.store.list_audit()
    assert [(e.actor, e.action, e.target) for e in audit] == [("boss", "oper", "ivy")]


async def test_kill_disconnects_users_on_every_door(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await admin(app, accounts)
    await accounts("tina")
    assert app.telnet_port is not None
    tel = await TelnetClient.connect(app.telnet_port)
    cleanup.append(tel)
    await tel.login("tina")
    ivy = await irc_user(app, "ivy", join=("#lobby",))
    cleanup.append(ivy)
    gus = await irc_user(app, "gus")
    cleanup.append(gus)

    await gus.rawmsg("KILL", "tina", "not yours to do")  # a non-operator
    await gus.expect("481", "gus")
    await gus.rawmsg("KILL", "gus", "nor this")
    await gus.expect("481", "gus")
    await gus.settle()
    assert gus.connected

    await oper_up(ivy)
    await ivy.rawmsg("KILL", "nobody", "gone")
    await ivy.expect("401", "ivy", "nobody")
    await ivy.rawmsg("KILL", "tina", "flooding")
    await tel.expect(r"killed by boss \(flooding\)")
    await asyncio.wait_for(tel.reader.read(), 10)  # the server closes it: EOF
    assert tel.reader.at_eof()
    quit_ = await ivy.expect("QUIT", where=lambda m: m.source.startswith("tina!"))
    assert quit_ is not None

    await ivy.rawmsg("KILL", "gus", "bye")  # a guest: it ends, and its nick is free
    await gus.expect("ERROR")
    async with asyncio.timeout(10):
        while gus.connected:
            await asyncio.sleep(0.05)
    again = await irc_user(app, "gus")
    cleanup.append(again)
    assert again.find("001").params[0] == "gus"

    assert app.core is not None
    kills = [e for e in await app.core.store.list_audit() if e.action == "kill"]
    assert [(e.actor, e.target, e.detail) for e in kills] == [
        ("boss", "gus", "bye"),
        ("boss", "tina", "flooding"),
    ]


async def test_wallops_reach_operators_and_plus_w_only(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await admin(app, accounts)
    ivy, una, wes = [await irc_user(app, nick) for nick in ("ivy", "una", "wes")]
    cleanup.extend([ivy, una, wes])
    await wes.rawmsg("MODE", "wes", "+w")
    await wes.expect("MODE", "wes", "+w")
    await una.rawmsg("WALLOPS", "let me in")
    await una.expect("481", "una")
    await oper_up(ivy)
    await ivy.rawmsg("WALLOPS", "hello operators")
    line = await wes.expect("WALLOPS", "hello operators")
    assert line.source.startswith("ivy!")
    await ivy.expect("WALLOPS", "hello operators")
    await una.settle()
    assert not una.received("WALLOPS")


async def test_guessing_an_operators_password_is_throttled(
    make_server: ServerFactory, cleanup: list[Any]
) -> None:
    app = await make_server(irc={"guests": True}, limits={"login_free_attempts": 2})
    assert app.core is not None
    await app.core.accounts.register("boss", PASSWORD, by_admin=True)
    await app.core.accounts.set_admin("boss", True)
    eve = await irc_user(app, "eve")
    cleanup.append(eve)
    answers = []
    for i in range(4):
        await eve.rawmsg("OPER", "boss", f"guess-{i}")
        answers.append((await eve.expect("464", "eve")).params[1])
    assert answers[:3] == ["Password incorrect"] * 3
    assert answers[3] != "Password incorrect"  # backing off: not even checked
    await eve.rawmsg("OPER", "boss", PASSWORD)  # the right one waits too
    assert (await eve.expect("464", "eve")).params[1] != "Password incorrect"
    assert not eve.received("381")


async def test_an_open_session_loses_the_status_with_the_admin_flag_or_password(
    app: App, accounts: Accounts, cleanup: list[Any]
) -> None:
    await admin(app, accounts)
    assert app.core is not None
    ivy = await irc_user(app, "ivy")
    cleanup.append(ivy)
    una = await irc_user(app, "una")
    cleanup.append(una)
    await oper_up(ivy)
    await app.core.accounts.set_admin("boss", False)  # a revocation of boss's credential
    await ivy.expect("MODE", "ivy", "-o", timeout=15)
    await ivy.rawmsg("KILL", "una", "too late")
    await ivy.expect("481", "ivy")
    await una.settle()
    assert una.connected and ivy.connected

    await app.core.accounts.set_admin("boss", True)
    await oper_up(ivy)
    await app.core.accounts.set_password("boss", "another-pw")  # a revocation: at once
    await ivy.expect("MODE", "ivy", "-o")
    await ivy.rawmsg("WALLOPS", "still here?")
    await ivy.expect("481", "ivy")
    assert ivy.connected  # a guest, not logged in as boss: its own session stays
