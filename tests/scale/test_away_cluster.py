"""Away changes across a `postgresql + kafka` cluster: a telnet /away on node b reaches an
IRC client with away-notify and a WebSocket on node a that share a room with the user, and
an IRC AWAY on a reaches a telnet user on b, as they happen (a node event through the log,
not a presence heartbeat later)."""

from __future__ import annotations

import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.irc import IrcUser, irc_user
from tests.scale.clients import Clients
from tests.scale.conftest import NodeFactory

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]


async def test_an_away_on_one_node_is_told_on_the_other(
    make_node: NodeFactory, clients: Clients
) -> None:
    """On main a telnet /away, and any away on another node, sent IRC clients nothing."""
    a = await make_node("a")
    b = await make_node("b")
    walt = await clients.ws(a, "walt")
    await walt.subscribe("lobby")
    await clients.http(a, "wendy")  # an account for IRC
    wendy: IrcUser | None = None
    try:
        wendy = await irc_user(
            a, "y", sasl_username="wendy", sasl_password=PASSWORD, join=("#lobby",)
        )
        tina = await clients.telnet(b, "tina")  # in #lobby on b
        tina.send("/away brb")
        await tina.expect(r"you are marked away: brb")
        said = await wendy.expect("AWAY", timeout=30)
        assert said.source.startswith("tina!") and said.params == ["brb"]
        frame = await walt.frame("away", "tina is away", timeout=30)
        assert (frame["user"], frame["away"]) == ("tina", "brb")

        await wendy.rawmsg("AWAY", "at lunch")
        await wendy.expect("306")
        await tina.expect(r"^\* wendy is away: at lunch$", timeout=30)

        tina.send("/away")
        await tina.expect(r"you are back")
        said = await wendy.expect("AWAY", timeout=30)
        assert said.source.startswith("tina!") and said.params == []
    finally:
        if wendy is not None:
            await wendy.disconnect(expected=True)
