"""Ban masks on the IRC door for clients whose IPv6 address carries an IPv4 one (6to4,
NAT64, Teredo: core/addresses.py), their addresses given by a trusted proxy's PROXY header
as a load balancer in front of the door gives them. A mask is matched against the host as
IRC shows it and against that IPv4 address: `*!*@192.0.2.*` missed the same client through a
tunnel, and changing tunnels escaped an IPv4 ban."""

from __future__ import annotations

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from torbit.app import App
from torbit.protocol.proxy import encode_v2

IRC = {"guests": True, "proxy_protocol": True, "trusted_proxies": ["127.0.0.1/32"]}
# each of these carries 192.0.2.1
SIXTOFOUR = "2002:c000:201::1"
NAT64 = "64:ff9b::c000:201"
TEREDO = "2001:0:4136:e378:8000:63bf:3fff:fdfe"  # the client's address inverted, at the end


async def guest_from(app: App, address: str, nick: str, join: str | None = None) -> RawIrc:
    """A guest whose connection the trusted proxy says comes from `address`."""
    client = await RawIrc.connect(app)
    client.send_raw(encode_v2((address, 40000)))
    await client.register(nick)
    if join is not None:
        client.send(f"JOIN {join}")
        await client.expect(f" 366 {nick} {join} ")
    return client


async def test_an_ipv4_mask_bars_the_same_client_through_each_tunnel(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc=IRC, limits={"moderation_rate": 0})
    op = await guest_from(app, "203.0.113.9", "chanop", "#den")
    nat = await guest_from(app, NAT64, "nat", "#den")
    op.send("MODE #den +b *!*@192.0.2.0/24")  # a network mask: the carried address is in it
    await op.expect("MODE #den +b *!*@192.0.2.0/24")
    await nat.expect("KICK #den nat :banned: *!*@192.0.2.0/24")  # a member is put out
    op.send("MODE #den -b *!*@192.0.2.0/24", "MODE #den +b *!*@192.0.2.*")
    await op.expect("MODE #den +b *!*@192.0.2.*")
    for nick, address in (("six", SIXTOFOUR), ("nat2", NAT64), ("ter", TEREDO)):
        client = await guest_from(app, address, nick)
        client.send("JOIN #den")
        await client.expect(f" 474 {nick} #den ")
    plain = await guest_from(app, "2001:db8::5", "plain")  # carries none: not matched
    plain.send("JOIN #den")
    await plain.expect(" 366 plain #den ")


async def test_an_ipv4_exception_lets_a_tunnelled_client_in(
    make_server: ServerFactory,
) -> None:
    app = await make_server(irc=IRC, limits={"moderation_rate": 0})
    op = await guest_from(app, "203.0.113.9", "chanop", "#den")
    op.send("MODE #den +b *!*@2002:*", "MODE #den +e *!*@192.0.2.1")  # no 6to4 but that one
    await op.expect("MODE #den +e *!*@192.0.2.1")
    six = await guest_from(app, SIXTOFOUR, "six")
    six.send("JOIN #den")
    joined = await op.expect(" JOIN #den")
    assert joined.startswith(":six!") and "192.0.2" not in joined  # shown as it was
    other = await guest_from(app, "2002:cb00:7101::1", "other")  # 6to4 of 203.0.113.1
    other.send("JOIN #den")
    await other.expect(" 474 other #den ")
