"""Issue 10, item 5: registration was an unauthenticated CPU and memory sink. It hashed the
password even when the name was taken, was not rate limited (25 accounts from one address in
4.6 s), and 8 parallel registering threads took RSS from 106 to 490 MB.

Now the name and the password rules are checked before any hashing, registrations are
limited per address and overall (`limits.registrations_per_address`, `registrations_per_hour`),
and hashing runs on a bounded pool whose queue, when full, answers 503 at once; registrations
may only take half of it, so logins go on during a flood."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import psutil
import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, error_of, register
from tests.security.conftest import ATTACKER, OWNER, http_from, telnet_from
from torbit.app import App


def hashes_done(app: App) -> int:
    assert app.core is not None
    return app.core.accounts.hashing.done


async def test_a_taken_name_is_answered_without_hashing(make_server: ServerFactory) -> None:
    app = await make_server()
    async with http_from(app) as client:
        await register(client, "alice")
        done = hashes_done(app)
        for name in ("alice", "ALICE", "aIice"):
            r = await client.post("/api/v1/users", json={"name": name, "password": PASSWORD})
            error_of(r, 409, "conflict")
        error_of(await client.post("/api/v1/users", json={"name": "bob", "password": "x"}), 422)
        assert hashes_done(app) == done
    # telnet: a name that reads like a taken one is refused at the name prompt
    telnet = await telnet_from(app)
    await telnet.read_until("Name: ")
    telnet.send("a1ice")
    await telnet.expect(r"reads too much like 'alice'")
    await telnet.read_until("Name: ")
    assert hashes_done(app) == done
    await telnet.close()


async def test_registrations_are_limited_per_address_and_overall(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits={"registrations_per_address": 3, "registrations_per_hour": 5})
    async with http_from(app, ATTACKER) as attacker:
        await register(attacker, "u1", "u2", "u3")
        done = hashes_done(app)
        r = await attacker.post("/api/v1/users", json={"name": "u4", "password": PASSWORD})
        assert "too many registrations from your address" in error_of(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) > 60  # 3 an hour: one every 20 minutes
        assert hashes_done(app) == done
    telnet = await telnet_from(app, ATTACKER)
    await telnet.read_until("Name: ")
    telnet.send("u5")  # told at the name prompt, before a password is asked for
    await telnet.expect("too many registrations from your address")
    await telnet.read_until("Name: ")
    assert not any("Choose a password" in line for line in telnet.seen)
    assert hashes_done(app) == done
    await telnet.close()
    async with http_from(app, OWNER) as owner:  # another address may still register
        await register(owner, "o1", "o2")
        r = await owner.post("/api/v1/users", json={"name": "o3", "password": PASSWORD})
        assert "too many registrations right now" in error_of(r, 429, "rate_limited")


async def test_the_log_names_each_registration_and_the_limit_that_refused_one(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A newcomer trying every door from one machine hit the per-address limit with nothing in
    the log to say why; registrations over HTTP were not logged at all (telnet's and IRC's were)."""
    caplog.set_level(logging.INFO, "torbit")
    app = await make_server(limits={"registrations_per_address": 2, "registrations_per_hour": 3})
    async with http_from(app, ATTACKER) as attacker:
        await register(attacker, "u1", "u2")
        r = await attacker.post("/api/v1/users", json={"name": "u3", "password": PASSWORD})
        error_of(r, 429, "rate_limited")
    async with http_from(app, OWNER) as owner:
        await register(owner, "o1")
        r = await owner.post("/api/v1/users", json={"name": "o2", "password": PASSWORD})
        error_of(r, 429, "rate_limited")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("regist")]
    assert lines == [
        f"registered u1 over HTTP from {ATTACKER}",
        f"registered u2 over HTTP from {ATTACKER}",
        f"registration of 'u3' from {ATTACKER} refused: limits.registrations_per_address"
        " (an hour, from one address) reached",
        f"registered o1 over HTTP from {OWNER}",
        f"registration of 'o2' from {OWNER} refused: limits.registrations_per_hour reached",
    ]


async def test_a_registration_flood_is_bounded_and_logins_go_on(make_server: ServerFactory) -> None:
    """16 parallel registrations with argon2's default memory cost (64 MiB each): the pool
    runs one at a time, lets one more wait, and turns the rest away at once with 503."""
    app = await make_server(
        accounts={
            "argon2_time_cost": 2,
            "argon2_memory_kib": 65536,
            "argon2_parallelism": 1,
            "hash_workers": 1,
            "hash_queue": 3,
        }
    )
    async with http_from(app, OWNER) as owner:
        await register(owner, "alice")
    process = psutil.Process()
    rss_before = process.memory_info().rss

    async def sign_up(i: int) -> int:
        async with http_from(app, f"127.0.3.{i}") as client:
            r = await client.post("/api/v1/users", json={"name": f"flood{i}", "password": PASSWORD})
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1"
                assert r.json()["error"]["code"] == "busy"
            return r.status_code

    async def log_in() -> int:
        await asyncio.sleep(0.05)  # while the flood is on
        async with http_from(app, OWNER) as client:
            r = await client.post("/api/v1/sessions", json={"name": "alice", "password": PASSWORD})
            return r.status_code

    *flood, login = await asyncio.gather(*(sign_up(i) for i in range(16)), log_in())
    rss_growth_mb = (process.memory_info().rss - rss_before) / 2**20
    print(f"registration flood: {Counter(flood)}, login {login}, RSS +{rss_growth_mb:.0f} MB")
    assert Counter(flood)[503] >= 12  # at most half the 4 slots were the registrations'
    assert set(flood) <= {201, 503}
    assert login == 201
    # unbounded, 16 hashes at 64 MiB each would have taken over 1 GiB
    assert rss_growth_mb < 512
    assert app.core is not None and app.core.accounts.hashing.jobs == 0
