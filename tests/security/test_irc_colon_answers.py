"""IRC answers that hold a value starting with ':' as a middle parameter. A reply echoing what
the client typed (`MODE #hall +b ::y!*@*` reads as the nick `:y`, whose 401 names it) and a
ban mask stored before such masks were refused (attack7; 367 lists it) could not be lines
and were dropped with a log warning: the sender got no answer, and the ban was on no IRC
operator's list. Now that value ends the line as its trailing parameter, intact."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, create_room
from torbit.app import App
from torbit.core.models import BanMask


async def test_a_value_starting_with_a_colon_is_answered_as_the_trailing_one(server: App) -> None:
    async with api(server, "alice") as alice:
        await register(alice, "alice")
        await create_room(alice, "hall")
    # stored before attack7 refused it on every door
    old = BanMask(":x!*@*", "alice", datetime.now(UTC))
    assert server.core is not None
    assert await server.core.store.add_ban_mask("hall", old, 100)
    irc = await RawIrc.connect(server)
    irc.send(f"PASS alice:{PASSWORD}", "NICK alice", "USER alice 0 * :a", "CAP END")
    irc.send("JOIN #hall")
    await irc.expect(" 366 ")
    irc.send("MODE #hall +b ::y!*@*", "MODE #hall +b")
    assert (await irc.expect(" 401 ")).endswith(" 401 alice ::y"), irc.lines[-3:]
    await irc.expect(" 368 ")
    assert next(line for line in irc.lines if " 367 " in line).endswith(" 367 alice #hall ::x!*@*")
    irc.send("MODE #hall -b ::x!*@*", "MODE #hall +b")
    await irc.expect(" MODE #hall -b ::x!*@*")
    await irc.close()
