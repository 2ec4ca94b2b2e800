"""A kick across a `postgresql + kafka` cluster, then a rejoin: the kicker's node told its room
"bob was kicked" at once, and then got bob's node's beat saying bob went. Stop 53's walk found
that beat taken for a disconnect: its leave was held for `chat.presence_grace_seconds`, and bob
back within it counted as a reload, so neither his rejoin nor, later, his leave was ever told
on the kicker's node (on one node both were)."""

from __future__ import annotations

import re

import pytest

from tests.helpers.moderation import services
from tests.scale.clients import Clients
from tests.scale.conftest import NodeFactory, done, eventually

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.postgres]

GRACE = {"presence_grace_seconds": 120.0}  # far longer than any wait below


async def test_a_user_kicked_on_another_node_is_announced_when_back(
    make_node: NodeFactory, clients: Clients
) -> None:
    a = await make_node("a", chat=GRACE)
    b = await make_node("b", chat=GRACE)
    carol = await clients.telnet_in(a, "carol", verb="create")
    bob = await clients.telnet_in(b, "bob")
    await carol.expect(r"^\* bob joined #hall$", timeout=30)

    carol.send("/kick bob out")
    await carol.expect(r"^\* bob was kicked from #hall by carol \(out\)$")
    await bob.expect(r"^\* you were kicked from #hall by carol")
    # b's beat that bob went has reached a
    await eventually(
        "bob offline in #hall on a",
        lambda: done("bob" not in services(a).membership.online("hall")),
    )

    bob.send("/join hall")
    await bob.expect(r"^\* you are in #hall")
    await carol.expect(r"^\* bob joined #hall$", timeout=30)


async def test_a_room_switch_on_another_node_is_told_as_a_switch_at_once(
    make_node: NodeFactory, clients: Clients
) -> None:
    """Stop 53's walk: a telnet `/join` of another room on node a was "went to another room
    (still a member ...)" on a and, a grace later, "left" on b: a beat says who went, not
    why. The leave now travels as it was told (a node event), at once."""
    a = await make_node("a", chat=GRACE)
    b = await make_node("b", chat=GRACE)
    alice = await clients.telnet_in(a, "alice", verb="create")
    dave = await clients.telnet_in(b, "dave")
    await alice.expect(r"^\* dave joined #hall$", timeout=30)

    alice.send("/join lobby")
    await alice.expect(r"^\* you are in #lobby")
    await dave.expect(r"^\* alice went to another room \(still a member of #hall\)$", timeout=30)


async def test_a_leave_on_one_node_is_not_told_while_the_user_is_in_the_room_on_another(
    make_node: NodeFactory, clients: Clients
) -> None:
    """bob is in #hall on node b and on node c; his switch of rooms on b is not news on a,
    where alice is: he is still in #hall (on c). Only his last session's leave travels as
    told (`Sessions.last_here` asks the other nodes' beats), and then it is told once."""
    a = await make_node("a", chat=GRACE)
    b = await make_node("b", chat=GRACE)
    c = await make_node("c", chat=GRACE)
    alice = await clients.telnet_in(a, "alice", verb="create")
    on_b = await clients.telnet_in(b, "bob")
    await alice.expect(r"^\* bob joined #hall$", timeout=30)
    on_c = await clients.telnet_in(c, "bob")
    table = services(a).subscriptions.cluster
    assert table is not None
    b_node, c_node = (services(n).subscriptions.cluster.node for n in (b, c))
    await eventually(  # on a node besides b, and on one besides c: on both
        "a knows bob is in #hall on b and on c",
        lambda: done(
            table.elsewhere("hall", "bob", b_node) and table.elsewhere("hall", "bob", c_node)
        ),
    )

    on_b.send("/join lobby")
    await on_b.expect(r"^\* you are in #lobby")
    c_subs = services(c).subscriptions
    await eventually(  # b's beat, heard on a and on c: bob is in #hall on c only
        "a and c know bob left #hall on b",
        lambda: done(
            not table.elsewhere("hall", "bob", c_node)
            and not c_subs.online_elsewhere("hall", "bob")
        ),
    )
    on_c.send("still here")
    await alice.expect(r"<bob> still here$", timeout=30)

    def told() -> list[str]:
        return [line for line in alice.seen if re.match(r"\* bob (went to another|left)", line)]

    # b's leave came before its beat (one topic): it would be above by now
    assert told() == [], alice.seen
    on_c.send("/join lobby")  # now gone from #hall everywhere: told
    await on_c.expect(r"^\* you are in #lobby")
    await alice.expect(r"^\* bob (went to another room|left)", timeout=30)
    assert len(told()) == 1, alice.seen
