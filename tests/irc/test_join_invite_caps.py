"""extended-join (JOIN #room account|* :realname), invite-notify (a room's members are told
of an INVITE) and setname (SETNAME changes the real name), for joins and invitations made on
any door, to clients that asked for them only. On main: the caps were NAKed, JOINs had the
channel alone, only the invitee heard of an invitation, and SETNAME was 421."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc
from tests.irc.test_doors import telnet_user
from torbit.app import App


async def _client(
    app: App, nick: str, cleanup: list[Any], *caps: str, password: str = "", real: str = ""
) -> RawIrc:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    if caps:
        raw.send("CAP LS 302", f"CAP REQ :{' '.join(caps)}")
        assert " ACK " in await raw.expect(" ACK ")
    if password:
        raw.send(f"PASS {nick}:{password}")
    raw.send(f"NICK {nick}", f"USER {nick} 0 * :{real or nick}", "CAP END")
    await raw.expect(" 376 ")
    return raw


async def _sync(raw: RawIrc) -> list[str]:
    start = len(raw.lines)
    raw.send("PING :sync")
    await raw.expect("PONG")
    return raw.lines[start:-1]


async def test_extended_join_names_account_and_realname(
    app: App, accounts: Callable[..., Awaitable[None]], cleanup: list[Any]
) -> None:
    await accounts("ivy")
    eve = await _client(app, "eve", cleanup, "extended-join", real="Eve Real")
    plain = await _client(app, "pat", cleanup)
    eve.send("JOIN #xj")
    assert (await eve.expect(" JOIN ")) == ":eve!~eve@irc.torbit JOIN #xj * :Eve Real"  # a guest
    plain.send("JOIN #xj")
    await plain.expect(" 366 ")
    assert (await eve.expect(" JOIN ")).endswith(" JOIN #xj * pat")

    ivy = await _client(app, "ivy", cleanup, password=PASSWORD, real="Ivy Green")
    ivy.send("JOIN #xj")
    assert (await eve.expect(" JOIN ")) == ":ivy!ivy@irc.torbit JOIN #xj ivy :Ivy Green"
    assert (await plain.expect(" JOIN ")) == ":ivy!ivy@irc.torbit JOIN #xj"  # no cap: as before
    tel = await telnet_user(app, "tina", "xj", cleanup)  # another door: account and name
    assert (await eve.expect(" JOIN ")).endswith(" JOIN #xj tina tina")
    assert (await plain.expect(" JOIN ")).endswith(" JOIN #xj")
    assert tel is not None


async def test_invite_notify_tells_the_rooms_members(app: App, cleanup: list[Any]) -> None:
    ann = await _client(app, "ann", cleanup, "invite-notify")  # creates the room: its admin
    ann.send("JOIN #inv")
    await ann.expect(" 366 ")
    mem = await _client(app, "mem", cleanup, "invite-notify")
    plain = await _client(app, "pat", cleanup)
    for raw in (mem, plain):
        raw.send("JOIN #inv")
        await raw.expect(" 366 ")
    tel = await telnet_user(app, "tina", "inv", cleanup)
    bob = await _client(app, "bob", cleanup)

    ann.send("INVITE bob #inv")
    assert (await ann.expect(" 341 ")).endswith(" 341 ann bob #inv")
    assert (await bob.expect(" INVITE ")) == ":ann!~ann@irc.torbit INVITE bob #inv"
    assert (await mem.expect(" INVITE ")) == ":ann!~ann@irc.torbit INVITE bob #inv"
    await tel.expect(r"ann invited bob to #inv")
    assert not [line for line in await _sync(plain) if " INVITE " in line]  # no cap: nothing
    assert not [line for line in await _sync(ann) if " INVITE " in line]  # the inviter: 341


async def test_setname_changes_the_real_name_and_tells_who_asked(
    app: App, cleanup: list[Any]
) -> None:
    foo = await _client(app, "foo", cleanup, "setname", real="Old Name")
    bar = await _client(app, "bar", cleanup, "setname")
    baz = await _client(app, "baz", cleanup)
    for raw in (foo, bar, baz):
        raw.send("JOIN #sn")
        await raw.expect(" 366 ")
    foo.send("SETNAME :New Name")
    assert (await foo.expect(" SETNAME ")) == ":foo!~foo@irc.torbit SETNAME :New Name"
    assert (await bar.expect(" SETNAME ")) == ":foo!~foo@irc.torbit SETNAME :New Name"
    assert not [line for line in await _sync(baz) if " SETNAME " in line]  # no cap
    baz.send("WHOIS foo")
    assert (await baz.expect(" 311 ")).endswith(" :New Name")
    foo.send("SETNAME :" + "x" * 129)  # longer than USER's real name may be
    assert " FAIL SETNAME INVALID_REALNAME " in await foo.expect("FAIL")
