"""Ban masks on a network (attack4: masks evaded with wildcards). An IPv6 client's address is
written compressed, and where the compression falls depends on the address: in the /64
2001:db8:0:0::/64 one client is `2001:db8::5`, another `2001:db8:0:0:a:b:c:d`, so no
`*`/`?` mask holds the whole /64 (each customer's share) and its holder evaded a mask by
picking an interface ID. A mask's host may now be a network, as on InspIRCd and ergo
(`*!*@2001:db8::/64`, `*!*@203.0.113.0/24`): it matches every address in it, however
written, an IPv4-mapped one as its IPv4 address; the nick and user parts still apply."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, create_room
from torbit.core.banmasks import MAX_BAN_MASKS, CompiledMasks, Visitor, matches, parse_mask
from torbit.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("*!*@2001:DB8:0:0::/64", "*!*@2001:db8::/64"),
        ("*!*@2001:db8::5/64", "*!*@2001:db8::/64"),
        ("*!*@10.1.2.3/8", "*!*@10.0.0.0/8"),
        ("bob!*@::ffff:10.1.2.3/104", "bob!*@10.0.0.0/8"),
        ("*@192.0.2.0/24", "*!*@192.0.2.0/24"),
    ],
)
def test_a_network_mask_is_written_one_way(text: str, canonical: str) -> None:
    assert parse_mask(text) == canonical


@pytest.mark.parametrize(
    "text", ["*!*@2001:db8::/200", "*!*@10.*/8", "*!*@example.org/8", "*!*@10.0.0.0/"]
)
def test_a_bad_network_is_no_mask(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_mask(text)


@pytest.mark.parametrize(
    ("mask", "host", "hit"),
    [
        ("*!*@2001:db8::/64", "2001:db8::5", True),
        ("*!*@2001:db8::/64", "2001:db8:0:0:a:b:c:d", True),
        ("*!*@2001:db8::/64", "2001:db8:0:1::5", False),
        ("*!*@10.0.0.0/8", "10.9.9.9", True),
        ("*!*@10.0.0.0/8", "::ffff:10.9.9.9", True),
        ("*!*@10.0.0.0/8", "11.0.0.1", False),
        ("*!*@10.0.0.0/8", "2001:db8::5", False),
        ("bob!*@10.0.0.0/8", "10.1.1.1", True),
        ("*!*@10.0.0.0/8", "?", False),
        ("*!*@0.0.0.0/0", "203.0.113.9", True),
        ("*!*@0.0.0.0/0", "2001:db8::5", False),
        ("*!*@::/0", "2001:db8::5", True),
        ("*!*@::/0", "::ffff:203.0.113.9", False),  # an IPv4 client, on a dual-stack door
        ("*!*@2001:db8::5/128", "2001:db8::5", True),
        ("*!*@2001:db8::5/128", "2001:db8::6", False),
    ],
)
def test_a_network_mask_matches_the_addresses_in_it(mask: str, host: str, hit: bool) -> None:
    canonical = parse_mask(mask)
    assert canonical is not None
    assert matches(canonical, Visitor("bob", "bob", host)) is hit
    assert not matches(canonical, Visitor("alice", "alice", host)) or not mask.startswith("bob")


def test_a_visitors_address_is_read_once_for_all_of_a_rooms_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each network mask parsed the client's address again, and compared with `ipaddress`'s
    `in`: 100 of them (the limit) cost every join and HTTP request to the room 0.36-0.43 ms
    from an IPv6 client (bench/mask_match.py, medians), against 9.5 µs for 100 plain masks.
    Read once now, networks compared as integers: 13 µs."""
    networks = [parse_mask(f"*!*@2001:db8:{i:x}::/64") for i in range(MAX_BAN_MASKS)]
    compiled = CompiledMasks(("mallory!*@*",), exceptions=tuple(m for m in networks if m))
    visitor = Visitor("mallory", "~m", "2001:db9::1")
    parsed: list[str] = []
    parse = ipaddress.ip_address

    def counted(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        parsed.append(host)
        return parse(host)

    monkeypatch.setattr(ipaddress, "ip_address", counted)
    assert compiled.matching(visitor) == "mallory!*@*"  # in none of the exceptions
    assert CompiledMasks(compiled.exceptions).matching(visitor) is None
    assert len(parsed) == 2, len(parsed)


async def test_a_network_mask_bars_a_join_from_an_address_in_it(
    make_server: ServerFactory,
) -> None:
    app = await make_server()
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "hall")
        r = await a.put("/api/v1/rooms/hall/banmasks", params={"mask": "*!*@127.0.0.0/30"})
        assert r.status_code == 204, r.text
        r = await a.get("/api/v1/rooms/hall/bans")
        assert "*!*@127.0.0.0/30" in r.text, r.text
    assert app.irc_port is not None
    for address, refused in (("127.0.0.3", True), ("127.0.0.4", False)):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", app.irc_port, local_addr=(address, 0)
        )
        bob = RawIrc(reader, writer)
        bob.send(f"PASS bob:{PASSWORD}")
        await bob.register("bob")
        bob.send("JOIN #hall")
        line = await bob.expect("#hall")
        assert (" 474 bob #hall " in line) is refused, line
        await bob.close()
