"""JOIN with a name no room can have: irssi showed "#café: No such channel", telnet and the
web page said "invalid room name 'café': use 1-32 letters a-z or A-Z, ...". The 403 stays
(clients know it) and its text says why, as the other doors do."""

from __future__ import annotations

from typing import Any

from tests.helpers.irc import RawIrc
from torbit.app import App
from torbit.core.names import NAME_RULE


async def test_join_says_what_a_channel_name_may_hold(app: App, cleanup: list[Any]) -> None:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    await raw.register("zoe")
    raw.send("JOIN #café")
    assert (await raw.expect(" 403 zoe ")).endswith(f" 403 zoe #café :No such channel: {NAME_RULE}")
    raw.send("JOIN #den\u00a0x")
    line = await raw.expect(" 403 zoe ")
    assert line.endswith(
        f":No such channel: it holds U+00A0, a space that is not ASCII; {NAME_RULE}"
    )
    raw.send("JOIN lobby")
    assert (await raw.expect(" 403 zoe ")).endswith(
        " 403 zoe lobby :No such channel: a channel's name starts with #"
    )
    raw.send("JOIN #lobby")
    await raw.expect(" 366 zoe #lobby ")
