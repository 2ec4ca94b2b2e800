"""attack61: a storm of wrong passwords for one account from one address through every
door at once, IRC's PASS and SASL PLAIN among them (test_guessing.py's doors had none of
IRC's): one allowance, shared, and no more argon2 checks than it allows."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter

from tests.conftest import ServerFactory
from tests.helpers.irc import RawIrc
from tests.security.test_argon2_counts import Checks
from tests.security.test_guessing import (
    a_guess,
    guess_http,
    guess_telnet,
    guess_ws,
    held,
    with_alice,
)
from torbit.app import App


async def irc_outcome(irc: RawIrc) -> str:
    """Read until the login's verdict: 'in', or 'failed' (wrong or throttled alike: IRC
    answers both 464 or 904; the argon2 checks tell them apart)."""
    while True:
        line = await irc.expect("")
        if " 001 " in line or " 903 " in line:
            return "in"
        if " 464 " in line or " 904 " in line or line.startswith("ERROR"):
            return "failed"


async def guess_irc_pass(app: App) -> str:
    irc = await RawIrc.connect(app)
    try:
        irc.send(f"PASS {a_guess()}", "NICK alice", "USER alice 0 * :alice")
        return await irc_outcome(irc)
    except EOFError:
        return "failed"
    finally:
        await irc.close()


async def guess_irc_sasl(app: App) -> str:
    irc = await RawIrc.connect(app)
    try:
        plain = base64.b64encode(f"\0alice\0{a_guess()}".encode()).decode()
        irc.send("CAP REQ :sasl", "NICK alice", "USER alice 0 * :alice")
        await irc.expect(" ACK ")
        irc.send("AUTHENTICATE PLAIN")
        await irc.expect("AUTHENTICATE +")
        irc.send(f"AUTHENTICATE {plain}")
        return await irc_outcome(irc)
    except EOFError:
        return "failed"
    finally:
        await irc.close()


async def test_wrong_passwords_through_every_door_and_irc_at_once_check_only_three(
    make_server: ServerFactory,
) -> None:
    """8 guesses each through telnet, IRC PASS, IRC SASL PLAIN, the WebSocket's Basic and
    `POST /api/v1/sessions`, all at once from one address: 3 checked (4 if one came after
    those settled), whatever door each came by."""
    app = await with_alice(make_server)
    checks = Checks(app)
    outcomes = await asyncio.gather(
        *(guess_telnet(app) for _ in range(8)),
        *(guess_irc_pass(app) for _ in range(8)),
        *(guess_irc_sasl(app) for _ in range(8)),
        *(guess_ws(app) for _ in range(8)),
        guess_http(app, "/api/v1/sessions", 8),
    )
    http = outcomes[-1]
    assert isinstance(http, Counter)
    told = Counter(o for o in outcomes[:-1] if isinstance(o, str))
    print(f"40 guesses at once: {checks.calls} checked; answers {dict(told)}, HTTP {dict(http)}")
    assert "in" not in told
    assert held(checks.calls, 40, 40 - checks.calls), (checks.calls, told, http)
