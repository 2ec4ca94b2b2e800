"""Ban masks against an IPv4 client of a door bound to `::` (attack4). Such a socket is dual
stack: it sees an IPv4 client as the IPv4-mapped `::ffff:a.b.c.d`, while a door bound to an
IPv4 address, a PROXY header and a trusted X-Forwarded-For name the same client `a.b.c.d`, the
form an admin bans. The mask `*!*@a.b.c.d` missed that client on every `::` door: it joined,
read and sent as if no mask were set. The address a mask sees is now the IPv4 one, as the
rate limits and trusted proxies already took it (core/throttle.py, frontends/proxied.py), and
a mask written with the mapped form means the same address."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, base_url, basic, register
from tests.helpers.irc import RawIrc
from tests.helpers.moderation import api, create_room
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.banmasks import Visitor, matches, parse_mask

BANNED_ADDRESS = "127.0.0.3"
DUAL_STACK = {"host": "::"}


@pytest.fixture
async def hall(make_server: ServerFactory) -> App:
    """Every door bound to `::`; alice owns #hall and banned `*!*@127.0.0.3` (from another
    address: 127.0.0.1)."""
    app = await make_server(telnet=DUAL_STACK, http=DUAL_STACK, irc=DUAL_STACK)
    async with api(app, "alice") as a:
        await register(a, "alice", "bob")
        await create_room(a, "hall")
        r = await a.put("/api/v1/rooms/hall/banmasks", params={"mask": f"*!*@{BANNED_ADDRESS}"})
        assert r.status_code == 204, r.text
    return app


async def test_an_irc_join_from_the_banned_ipv4_address_is_refused(hall: App) -> None:
    assert hall.irc_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", hall.irc_port, local_addr=(BANNED_ADDRESS, 0)
    )
    irc = RawIrc(reader, writer)
    irc.send(f"PASS bob:{PASSWORD}")
    await irc.register("bob")
    irc.send("JOIN #hall")
    line = await irc.expect("#hall")
    assert " 474 bob #hall " in line, line
    await irc.close()


async def test_a_telnet_join_from_the_banned_ipv4_address_is_refused(hall: App) -> None:
    assert hall.telnet_port is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", hall.telnet_port, local_addr=(BANNED_ADDRESS, 0)
    )
    bob = TelnetClient(reader, writer)
    await bob.login("bob", PASSWORD)
    bob.send("/join hall")
    line = (await bob.expect(r"#hall")).string
    assert line.startswith("! you are banned from #hall"), line
    await bob.close()


async def test_http_requests_from_the_banned_ipv4_address_are_refused(hall: App) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=BANNED_ADDRESS)
    async with httpx.AsyncClient(
        base_url=base_url(hall), auth=basic("bob"), timeout=20, transport=transport
    ) as bob:
        r = await bob.put("/api/v1/rooms/hall/members/bob")
        assert r.status_code == 403, r.text
        r = await bob.post("/send/hall/bob", content="hi")
        assert r.status_code == 403, r.text


@pytest.mark.parametrize(
    ("mask", "host"),
    [
        ("*!*@1.2.3.4", "::ffff:1.2.3.4"),
        ("*!*@1.2.3.*", "::FFFF:1.2.3.4"),
        ("*!*@::ffff:1.2.3.4", "1.2.3.4"),
        ("*!*@::FFFF:1.2.*", "::ffff:1.2.9.9"),
        ("*!*@2001:DB8:0:0::1", "2001:db8::1"),
    ],
)
def test_a_mask_and_an_address_in_either_form_match(mask: str, host: str) -> None:
    canonical = parse_mask(mask)
    assert canonical is not None
    assert matches(canonical, Visitor("bob", "bob", host))


def test_the_mapped_form_does_not_reach_other_addresses() -> None:
    canonical = parse_mask("*!*@::ffff:1.2.3.4")
    assert canonical is not None
    assert not matches(canonical, Visitor("bob", "bob", "1.2.3.40"))
    assert not matches(canonical, Visitor("bob", "bob", "::ffff:1.2.3.5"))


def test_a_mask_stored_in_the_mapped_form_before_still_matches() -> None:
    """parse_mask wrote `::ffff:1.2.3.4` as it was until now: such a stored mask meant the
    client now seen as 1.2.3.4."""
    assert matches("*!*@::ffff:1.2.3.4", Visitor("bob", "bob", "::ffff:1.2.3.4"))
    assert matches("*!*@::ffff:1.2.*", Visitor("bob", "bob", "1.2.3.4"))
