"""`PART #a,#a,#a,...` (or any PART) past the join rate: leaving costs a join
(`limits.join_rate`), and a refused PART is told with a notice. The IRC door forgot the
channel before asking the core, so a refusal left the connection believing it had left while
the membership and the subscription stayed: the client still got #a's messages but could no
longer talk there (404), a second PART answered 442 "You're not on that channel", and no
PART line ever came. A refused PART now keeps the channel, as the core does."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import command, telnet

# two joins, then nothing for 1,000 s
LIMITS = {"join_rate": 0.001, "join_burst": 2}


async def test_a_part_refused_by_the_join_rate_leaves_the_channel_joined(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits=LIMITS)
    assert app.core is not None
    for name in ("eve", "bob"):
        await app.core.accounts.register(name, PASSWORD)
    bob = await telnet(app, "bob")
    await command(bob, "/join a", "you are (now )?in #a")
    eve = await RawIrc.connect(app)
    eve.send(f"PASS eve:{PASSWORD}")
    await eve.register("eve")
    eve.send("JOIN #a,#b")  # her two joins
    await eve.expect(" 366 eve #b ")
    eve.send("PART " + ",".join(["#a"] * 40))
    assert "slow down: too many rooms joined or left" in await eve.expect("NOTICE eve :")
    eve.send("PRIVMSG #a :still here", "PART #a", "PING :end")
    await eve.expect("PONG")
    await bob.expect("<eve> still here")
    after = eve.lines[-4:]
    assert not [line for line in after if " 404 " in line or " 442 " in line], after
    assert len([line for line in eve.lines if "slow down" in line]) == 2, eve.lines[-6:]
    assert not [line for line in eve.lines if " PART " in line]
    bob.send("hello eve")
    await eve.expect("PRIVMSG #a :hello eve")
    eve.send("NAMES #a")
    assert "eve" in (await eve.expect(" 353 ")).split(":")[-1].split()
    await eve.close()
    await bob.close()
