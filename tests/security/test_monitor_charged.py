"""`MONITOR S` answers the state of every nick a connection watches (up to MONITOR_LIMIT, each
online one as a full mask: ~8 KB a command) and `MONITOR L` lists them; both were read as
often as the command rate allowed, outside the read budget that NAMES and `WHO #room` pay
(attack9's leftover). Every MONITOR answer that lists nicks is charged as a roster read now
(ten names a message), 263 when nothing is left; the watch list itself is kept."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc

BURST = 5
# refills one message every 1,000 s: nothing comes back during the test
SLOW = {"read_rate": 0.001, "read_burst": BURST}
NICKS = ",".join(f"n{i}" for i in range(9))  # nine names: a message's worth


async def test_monitor_answers_come_out_of_the_read_budget(make_server: ServerFactory) -> None:
    app = await make_server(limits=SLOW)
    assert app.core is not None
    await app.core.accounts.register("bob", PASSWORD)
    irc = await RawIrc.connect(app)
    irc.send(f"PASS bob:{PASSWORD}")
    await irc.register("bob")
    irc.send(f"MONITOR + {NICKS}")  # one message's worth: 4 left
    await irc.expect(" 731 ")
    for _ in range(BURST - 1):
        irc.send("MONITOR S")
        assert (await irc.expect(" 731 ")).endswith(f" 731 bob {NICKS}")
    irc.send("MONITOR S")
    assert (await irc.expect(" 263 ")).endswith(
        " 263 bob MONITOR :Please wait a while and try again."
    )
    irc.send("MONITOR L")
    await irc.expect(" 263 ")
    irc.send("PING :end")
    await irc.expect("PONG")
    answers = [line for line in irc.lines if " 731 " in line or " 732 " in line]
    assert len(answers) == BURST, answers  # nothing more answered past the budget
    # the list was kept: a watched nick coming online is still told (not a read)
    await app.core.accounts.register("n3", PASSWORD)
    n3 = await RawIrc.connect(app)
    n3.send(f"PASS n3:{PASSWORD}")
    await n3.register("n3")
    assert (await irc.expect(" 730 ")).endswith(" 730 bob n3!n3@irc.torbit")
    await n3.close()
    await irc.close()
