"""Many targets in one line: `PRIVMSG a,b,c,d,e,...`, `KICK #r a,b,c,d,e`, `NAMES` of many
channels, `WHOIS a,b`. TARGMAX (005) says how many of each one line may name; the server did
the first ones and dropped the rest without a word (and advertised NAMES as unlimited while
doing 8), so a client never knew which of its targets got nothing. Now each command honours
the TARGMAX it advertises and answers the first target past it with ERR_TOOMANYTARGETS (407,
as solanum does), once: one numeric per dropped target would be more output for the same
line."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc, joined


def targmax(line: str) -> dict[str, int]:
    token = next(t for t in line.split() if t.startswith("TARGMAX="))
    limits = dict(item.split(":") for item in token.removeprefix("TARGMAX=").split(","))
    return {command: int(n) for command, n in limits.items() if n}


async def test_each_command_does_its_targmax_and_refuses_the_rest(
    make_server: ServerFactory,
) -> None:
    app = await make_server()
    assert app.core is not None
    for name in ("eve", "bob"):
        await app.core.accounts.register(name, PASSWORD)
    eve = await RawIrc.connect(app)
    eve.send(f"PASS eve:{PASSWORD}")
    await eve.register("eve")
    limits = targmax(next(line for line in eve.lines if "TARGMAX=" in line))
    assert set(limits) >= {"PRIVMSG", "NOTICE", "KICK", "NAMES", "WHOIS"}, limits
    bob = await RawIrc.connect(app)
    bob.send(f"PASS bob:{PASSWORD}")
    await bob.register("bob")
    eve.send("JOIN #r")
    await eve.expect(" 366 ")

    # PRIVMSG/NOTICE: nicks nobody has (401 each) up to the limit, then bob: not sent
    for command in ("PRIVMSG", "NOTICE"):
        names = [f"nobody{i}" for i in range(limits[command])]
        eve.send(f"{command} {','.join([*names, 'bob', 'nobody99'])} :hello bob")
        assert (await eve.expect(" 407 ")).endswith(
            f" 407 eve bob :Too many recipients. Only {limits[command]} processed"
        )
        eve.send("PING :sync")
        await eve.expect("PONG")
    bob.send("PING :sync")
    await bob.expect("PONG")
    assert not [line for line in bob.lines if "hello bob" in line], bob.lines
    assert len([line for line in eve.lines if " 401 " in line]) == limits["PRIVMSG"]

    # KICK: one channel, many nicks (none of them in it: 441 each), the one past the limit 407
    nicks = [f"x{i}" for i in range(limits["KICK"] + 3)]
    eve.send(f"KICK #r {','.join(nicks)} :out")
    last = f"x{limits['KICK']}"
    assert (await eve.expect(" 407 ")).endswith(
        f" 407 eve {last} :Too many recipients. Only {limits['KICK']} processed"
    )
    # NAMES: as many rooms as allowed are shown, the next is named in a 407
    rooms = [f"#r{i}" for i in range(limits["NAMES"] + 2)]
    eve.send(f"NAMES {','.join(['#r', *rooms])}")
    assert (await eve.expect(" 407 ")).endswith(
        f" 407 eve {rooms[limits['NAMES'] - 1]} :Too many recipients. Only {limits['NAMES']} processed"
    )
    await eve.expect(" 366 ")
    # WHOIS a,b: the first is answered, the second refused
    eve.send("WHOIS bob,eve")
    assert (await eve.expect(" 407 ")).endswith(
        " 407 eve eve :Too many recipients. Only 1 processed"
    )
    await eve.expect(" 318 eve bob ")
    eve.send("PING :end")
    await eve.expect("PONG")
    assert len([line for line in eve.lines if " 407 " in line]) == 5  # one a line, never more
    await bob.close()
    await eve.close()


async def test_a_target_named_again_in_other_letters_gets_one_copy(
    make_server: ServerFactory,
) -> None:
    """`PRIVMSG bob,BOB,Bob,boB` delivered four copies to bob, and `#Room,#ROOM` two to the
    room (exact repeats were merged, other spellings of the same name were not): a client
    could multiply each line it sent by TARGMAX. Now each name counts once."""
    app = await make_server()
    assert app.core is not None
    for name in ("eve", "bob"):
        await app.core.accounts.register(name, PASSWORD)
    eve = await joined(app, "eve", "room", password=PASSWORD)
    bob = await joined(app, "bob", "room", password=PASSWORD)
    eve.send("PRIVMSG bob,BOB,Bob,boB :to bob")
    eve.send("NOTICE bob,BOB :notice to bob")
    eve.send("PRIVMSG #room,#ROOM,#Room :to the room")
    eve.send("PING :sync")
    await eve.expect("PONG")
    bob.send("PING :sync")
    await bob.expect("PONG")
    seen = [line for line in bob.lines if line.startswith(":eve!")]
    assert [line.split(" ", 2)[1:] for line in seen] == [
        ["PRIVMSG", "bob :to bob"],
        ["NOTICE", "bob :notice to bob"],
        ["PRIVMSG", "#room :to the room"],
    ], seen
    history = await app.core.messaging.history("eve", "room", limit=10)
    assert [m.text for m in history].count("to the room") == 1
    await bob.close()
    await eve.close()
