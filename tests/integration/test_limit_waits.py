"""A limit that refuses for long says for how long, on every door: a newcomer trying torbit
from one machine registers a handful of users and is then refused for the hour. On main the
words were only "slow down: too many registrations from your address" (the wait was in
HTTP's Retry-After alone, which the web page and telnet do not show). It names the setting
too: on a dev box or a LAN behind one address, whoever is refused often runs the server
(stop 32's newcomer got a bare 429 at their 6th user from 127.0.0.1)."""

from __future__ import annotations

import math
import re

from tests.conftest import ServerFactory
from tests.helpers.http import error_of, http_client, register
from tests.helpers.telnet_client import TelnetClient
from torbit.core.limits import RateLimiter
from torbit.errors import RateLimited

PASSWORD = "secret-pw"
SETTING = "(3 an hour, server setting limits.registrations_per_address)"


async def test_a_refused_registration_says_when_to_try_again(make_server: ServerFactory) -> None:
    app = await make_server(limits={"registrations_per_address": 3})
    async with http_client(app) as http:
        await register(http, "u1", "u2", "u3")
        r = await http.post("/api/v1/users", json={"name": "u4", "password": PASSWORD})
        said = error_of(r, 429, "rate_limited")
    # 3 an hour: one every 20 minutes
    assert said == (
        f"slow down: too many registrations from your address: try again in 20 min {SETTING}"
    )
    assert r.headers["retry-after"] == "1200"
    assert app.telnet_port is not None
    telnet = await TelnetClient.connect(app.telnet_port)
    await telnet.read_until("Name: ")
    telnet.send("u5")  # said at the name prompt, before a password is asked for
    await telnet.expect(
        r"^! slow down: too many registrations from your address: try again in 20 min"
        + re.escape(f" {SETTING}")
        + "$"
    )
    await telnet.close()


async def test_the_overall_limit_names_its_setting(make_server: ServerFactory) -> None:
    app = await make_server(limits={"registrations_per_hour": 2})
    async with http_client(app) as http:
        await register(http, "u1", "u2")
        r = await http.post("/api/v1/users", json={"name": "u3", "password": PASSWORD})
        said = error_of(r, 429, "rate_limited")
    assert said == (
        "slow down: too many registrations right now: try again in 30 min"
        " (2 an hour, server setting limits.registrations_per_hour)"
    )


def test_the_wait_is_told_from_a_second_on() -> None:
    now = [0.0]
    for rate, told in ((5.0, ""), (1.0, ": try again in 1 s"), (0.2, ": try again in 5 s")):
        limiter = RateLimiter(rate, 1, clock=lambda: now[0])
        limiter.check("k", "things")
        try:
            limiter.check("k", "things")
        except RateLimited as e:
            assert e.message == f"slow down: too many things{told}"
        else:
            raise AssertionError("not limited")


def test_the_wait_told_is_what_is_left_of_it() -> None:
    """A newcomer refused a sixth account, told "try again in 12 min", tried 6 minutes later
    and was told "12 min" again: the wait said was one token's whole time, not what was left."""
    now = [0.0]
    limiter = RateLimiter(1 / 60, 1, clock=lambda: now[0])  # one a minute
    limiter.check("k", "things")
    for at, told in ((1.0, 59), (45.0, 15), (58.5, 2)):
        now[0] = at
        try:
            limiter.check("k", "things")
        except RateLimited as e:
            assert e.message == f"slow down: too many things: try again in {told} s"
            assert math.ceil(e.retry_after) == told
        else:
            raise AssertionError("not limited")
