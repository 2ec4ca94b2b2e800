"""Registrations per address from IPv6 clients (attack4). `limits.registrations_per_address`
counted the client's address as written: a client with an IPv6 /64 (what one customer is
given) has 2^64 addresses, so it registered without limit by changing the last bits, as the
login back-off (core/throttle.py `address_key`) does not let it. The bucket is now the
address's /64 for IPv6, and an IPv4-mapped address is its IPv4 one, as for the back-off."""

from __future__ import annotations

import httpx

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, base_url

PER_ADDRESS = 3


async def test_addresses_of_one_ipv6_64_share_one_bucket(make_server: ServerFactory) -> None:
    app = await make_server(
        http={"trusted_proxies": ["127.0.0.1"]},
        limits={"registrations_per_address": PER_ADDRESS},
    )
    async with httpx.AsyncClient(base_url=base_url(app), timeout=20) as c:
        codes = []
        for i in range(PER_ADDRESS + 2):
            r = await c.post(
                "/api/v1/users",
                json={"name": f"user{i}", "password": PASSWORD},
                headers={"X-Forwarded-For": f"2001:db8:1:2::{i + 1:x}"},
            )
            codes.append(r.status_code)
        assert codes == [201] * PER_ADDRESS + [429, 429], codes
        # another /64 has a bucket of its own
        r = await c.post(
            "/api/v1/users",
            json={"name": "other", "password": PASSWORD},
            headers={"X-Forwarded-For": "2001:db8:1:3::1"},
        )
        assert r.status_code == 201, r.text
        # an IPv4 client and its IPv4-mapped form are one address
        for i, address in enumerate(["192.0.2.9", "::ffff:192.0.2.9"] * 2):
            r = await c.post(
                "/api/v1/users",
                json={"name": f"v4user{i}", "password": PASSWORD},
                headers={"X-Forwarded-For": address},
            )
            assert r.status_code == (201 if i < PER_ADDRESS else 429), (i, r.text)
