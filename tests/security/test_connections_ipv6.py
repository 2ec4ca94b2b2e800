"""Connections per address from IPv6 clients (attack4). `limits.connections_per_ip` counted
each address as written: a client with an IPv6 /64 (2^64 addresses) opened connections
without limit by changing the last bits of its source address, up to the server's
`max_connections`, keeping everyone else out. An IPv6 client's connections now count against
its /64, as the login back-off and registrations count it (core/throttle.py `address_key`);
an IPv4-mapped address is its IPv4 one. Shown on the HTTP door behind a trusted proxy, whose
X-Forwarded-For names the client: the door and the count are the ones telnet and IRC share."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import base_url, basic, register
from tests.helpers.moderation import services
from torbit.core.limits import ConnectionLimiter
from torbit.core.throttle import NETWORK_SHARE

PER_IP = 2


async def test_connections_from_one_ipv6_64_share_one_count(make_server: ServerFactory) -> None:
    app = await make_server(
        http={"trusted_proxies": ["127.0.0.1"]}, limits={"connections_per_ip": PER_IP}
    )
    clients = [httpx.AsyncClient(base_url=base_url(app), timeout=20) for _ in range(PER_IP + 2)]
    try:
        codes = []
        for i, c in enumerate(clients[: PER_IP + 1]):  # each keeps its connection open
            r = await c.get("/healthz", headers={"X-Forwarded-For": f"2001:db8:5:6::{i + 1:x}"})
            codes.append(r.status_code)
        assert codes == [200] * PER_IP + [503], codes
        r = await clients[-1].get("/healthz", headers={"X-Forwarded-For": "2001:db8:5:7::1"})
        assert r.status_code == 200, r.text  # another /64
    finally:
        for c in clients:
            await c.aclose()


def test_a_mapped_ipv4_address_is_counted_as_the_ipv4_one() -> None:
    limiter = ConnectionLimiter(per_ip=1, total=0)
    assert limiter.acquire("192.0.2.1") is None
    assert limiter.acquire("::ffff:192.0.2.1") is not None
    limiter.release("::ffff:192.0.2.1")  # the same address, in its other spelling
    assert limiter.acquire("192.0.2.1") is None
    assert limiter.open == 1


async def test_long_polls_from_one_ipv6_64_share_one_count(make_server: ServerFactory) -> None:
    """`limits.long_polls_per_ip` alike: two polls parked from one /64 (two users), a third
    from another address of it is refused (429) instead of parking."""
    app = await make_server(
        http={"trusted_proxies": ["127.0.0.1"]}, limits={"long_polls_per_ip": PER_IP}
    )
    users = ["ann", "bob", "cat"]
    async with httpx.AsyncClient(base_url=base_url(app), timeout=40) as c:
        await register(c, *users)

        def poll(i: int, wait: int) -> Coroutine[Any, Any, httpx.Response]:
            return c.get(
                f"/receive/lobby/{users[i]}",
                params={"wait": wait},
                headers={"X-Forwarded-For": f"2001:db8:5:6::{i + 1:x}"},
                auth=basic(users[i]),
            )

        for i in [0, 1, 2, 0, 1, 2]:  # all in the room, then nothing unread (joins read)
            assert (await poll(i, 0)).status_code == 200
        parked = [asyncio.create_task(poll(i, 30)) for i in (0, 1)]
        try:
            async with asyncio.timeout(20):  # a hang guard: both park at once
                while len(services(app).subscriptions.listeners("lobby")) < 2:
                    await asyncio.sleep(0.02)
            third = await poll(2, 1)
            assert third.status_code == 429, third.text
            assert "from your address" in third.text
        finally:
            for task in parked:
                task.cancel()
            await asyncio.gather(*parked, return_exceptions=True)


async def test_long_polls_from_the_64s_of_one_ipv6_48_are_bounded_together(
    make_server: ServerFactory,
) -> None:
    """A /48 is 65,536 /64s, each with its own `long_polls_per_ip`: with free accounts one
    site filled `max_long_polls` for everyone. Its /48 now holds NETWORK_SHARE times the
    per-address bound: with a bound of 1, eight polls park from eight /64s of one /48 and a
    ninth, from a ninth /64, is refused (429); another /48 still parks."""
    app = await make_server(
        http={"trusted_proxies": ["127.0.0.1"]}, limits={"long_polls_per_ip": 1}
    )
    site = NETWORK_SHARE + 1
    users = [f"u{i}" for i in range(site + 1)]
    async with httpx.AsyncClient(base_url=base_url(app), timeout=40) as c:
        await register(c, *users)

        def poll(i: int, wait: int, net: str = "2001:db8:5") -> Coroutine[Any, Any, httpx.Response]:
            return c.get(
                f"/receive/lobby/{users[i]}",
                params={"wait": wait},
                headers={"X-Forwarded-For": f"{net}:{i + 1:x}::1"},
                auth=basic(users[i]),
            )

        for i in [*range(site + 1), *range(site + 1)]:  # all in the room, nothing unread
            assert (await poll(i, 0)).status_code == 200
        parked = [asyncio.create_task(poll(i, 30)) for i in range(NETWORK_SHARE)]
        try:
            async with asyncio.timeout(30):  # a hang guard: all park
                while len(services(app).subscriptions.listeners("lobby")) < NETWORK_SHARE:
                    await asyncio.sleep(0.02)
            ninth = await poll(NETWORK_SHARE, 1)
            assert ninth.status_code == 429, ninth.text
            assert "from your address" in ninth.text
            elsewhere = await poll(site, 1, net="2001:db8:6")  # another /48: waits, answers
            assert elsewhere.status_code == 200, elsewhere.text
        finally:
            for task in parked:
                task.cancel()
            await asyncio.gather(*parked, return_exceptions=True)
