"""Presence as the others see it on telnet: switching rooms is said as what it is, a
reconnect within the grace period (a page reload, a dropped line) shows nothing, and a leave
is told to those who were there, not to a newcomer since."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.held_leaves import leaves_held
from tests.helpers.telnet_client import TelnetClient

PASSWORD = "secret-pw"


async def logged_in(port: int | None, name: str) -> TelnetClient:
    assert port is not None
    c = await TelnetClient.connect(port)
    await c.login(name, PASSWORD)
    return c


async def test_switching_rooms_is_not_leaving(make_server: ServerFactory) -> None:
    app = await make_server()
    alice, bob = await logged_in(app.telnet_port, "alice"), await logged_in(app.telnet_port, "bob")
    alice.send("/join Dev")
    await alice.expect(r"^\* you are in #Dev")
    await bob.expect(r"^\* alice went to another room \(still a member of #lobby\)$")
    assert not any("alice left" in ln for ln in bob.seen)
    await alice.close()
    await bob.close()


async def test_a_quick_reconnect_shows_nothing_to_others(make_server: ServerFactory) -> None:
    app = await make_server(chat={"presence_grace_seconds": 1.5})
    alice, bob = await logged_in(app.telnet_port, "alice"), await logged_in(app.telnet_port, "bob")
    await alice.expect(r"^\* bob joined #lobby$")  # a first arrival is announced
    await bob.close()
    bob = await logged_in(app.telnet_port, "bob")  # back at once
    quiet = await alice.lines_for(2.5)
    assert not [ln for ln in quiet if "bob" in ln], quiet

    await bob.close()  # gone for good: said once the grace period is over
    await alice.expect(r"^\* bob left #lobby$", timeout=5)
    await alice.close()


async def test_a_newcomer_is_not_told_of_leaves_from_before_it_came(
    make_server: ServerFactory,
) -> None:
    """Leaves are held for the grace, then told to whoever was in the room when they
    happened (core/leaves.py): a newcomer never saw the leavers there and gets none of
    them. Before, a crowd that left a room at once greeted each newcomer of the next five
    seconds with a "left" line per member (300 of them in a probe)."""
    app = await make_server(chat={"presence_grace_seconds": 3.0})  # all held before one is due
    alice = await logged_in(app.telnet_port, "alice")
    crowd = [await logged_in(app.telnet_port, f"u{i}") for i in range(5)]
    for c in crowd:
        await c.close()
    await leaves_held(app, 5)
    carol = await logged_in(app.telnet_port, "carol")  # in the room while they are held
    told: set[str] = set()
    while len(told) < 5:  # after the grace, in any order
        told.add((await alice.expect(r"^\* u\d left #lobby$")).group(0))
    carol.send("/who")  # a round trip: what was told with alice's lines has reached carol
    await carol.expect(r"alice")
    assert not [ln for ln in carol.seen if " left " in ln], carol.seen
    # a leave held after carol came is hers to hear
    await alice.close()
    await carol.expect(r"^\* alice left #lobby$", timeout=10)
    await carol.close()
