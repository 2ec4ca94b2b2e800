"""`WHO #room` lists everyone online in the room, with more of each than NAMES shows (ident,
host, real name, away), and was the one roster read left outside the read budget after
NAMES, `GET .../members` and telnet `/who` were charged (attack8): a client asked it again
and again for free. It is charged as NAMES is, and refused with 263 when nothing is left."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc

BURST = 5
# refills one message every 1,000 s: nothing comes back during the test
SLOW = {"read_rate": 0.001, "read_burst": BURST}


async def test_who_of_a_channel_comes_out_of_the_read_budget(make_server: ServerFactory) -> None:
    app = await make_server(limits=SLOW)
    assert app.core is not None
    await app.core.accounts.register("bob", PASSWORD)
    irc = await RawIrc.connect(app)
    irc.send(f"PASS bob:{PASSWORD}")
    await irc.register("bob")
    irc.send("JOIN #lobby")  # the names a JOIN shows are not charged (the join rate is)
    await irc.expect(" 366 bob #lobby ")
    for i in range(BURST):
        irc.send("WHO #lobby" if i % 2 else "WHO #lobby %tnuhraf,7")
        await irc.expect(" 315 bob #lobby ")
    listed = [line for line in irc.lines if " 352 bob #lobby " in line or " 354 bob 7 " in line]
    assert len(listed) == BURST, irc.lines
    irc.send("WHO #lobby")
    assert (await irc.expect(" 263 ")).endswith(" 263 bob WHO :Please wait a while and try again.")
    irc.send("WHO #lobby %n")
    await irc.expect(" 263 ")
    irc.send("PING :end")
    await irc.expect("PONG")
    shown = [line for line in irc.lines if " 352 " in line or " 354 " in line]
    assert len(shown) == BURST, shown  # nothing more listed past the budget
    # WHO of one nick reads no roster: not charged, still answered
    irc.send("WHO bob")
    assert " 352 bob * bob " in await irc.expect(" 352 ")
    await irc.close()
