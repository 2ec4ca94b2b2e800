"""An IRC client past the bounds before registration (registration.py) is held, not closed,
while IRC command pacing is on (its default): a command a second from then on (InspIRCd's
fakelag for the unregistered), until it registers or its registration time is up. Closed,
it reconnected at once, and the refusals of those reconnects cost the server more than the
commands it had been answering (churn, bench/JOURNAL.md). Counted, never timed: answers,
connections made, passwords checked."""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc
from torbit.core.accounts import Accounts
from torbit.frontends.irc.pacing import HELD_EVERY
from torbit.frontends.irc.registration import MAX_JUNK, MAX_SASL_FAILURES

PACED = {"irc_command_rate": 10}  # the default (the tests' settings lift it)
TIMEOUT = 2.0  # registration time (seconds)


async def answers_until_closed(raw: RawIrc) -> list[str]:
    lines = []
    while line := await raw.reader.readline():
        lines.append(line.decode().rstrip("\r\n"))
    return lines


async def test_junk_past_the_bound_is_held_until_the_registration_time_is_up(
    make_server: ServerFactory,
) -> None:
    app = await make_server(limits=PACED, irc={"registration_timeout": TIMEOUT})
    assert app.irc is not None
    raw = await RawIrc.connect(app)
    raw.send(*["FOO bar"] * 50)
    lines = await answers_until_closed(raw)
    assert lines[-1] == "ERROR :Closing link: irc.torbit (Registration timed out)", lines
    answered = len(lines) - 1
    # the first MAX_JUNK and the one past them at once, then at most one each HELD_EVERY
    assert MAX_JUNK + 1 <= answered <= MAX_JUNK + 2 + math.ceil(TIMEOUT / HELD_EVERY), lines
    assert app.irc.cuts.total == 0  # held, never cut for its junk
    await raw.close()


async def test_past_three_failed_sasl_logins_no_guess_is_checked_and_it_may_still_register(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await make_server(limits={**PACED, "login_free_attempts": 100}, irc={"guests": True})
    assert app.core is not None
    await app.core.accounts.register("victim", PASSWORD)
    checked = [0]
    authenticate = Accounts.authenticate

    async def counting(self: Accounts, *args: Any, **kwargs: Any) -> Any:
        checked[0] += 1
        return await authenticate(self, *args, **kwargs)

    monkeypatch.setattr(Accounts, "authenticate", counting)
    raw = await RawIrc.connect(app)
    raw.send("CAP LS 302", "CAP REQ :sasl")
    await raw.expect(" ACK ")
    guess = base64.b64encode(b"\0victim\0wrong-guess").decode()
    raw.send(*[line for _ in range(5) for line in ("AUTHENTICATE PLAIN", f"AUTHENTICATE {guess}")])
    await raw.expect("too many failed logins (3) on this connection")
    assert checked[0] == MAX_SASL_FAILURES
    # held, it registers all the same (as a guest), and is paced as anyone once registered
    raw.send("CAP END", "NICK held", "USER held 0 * :held")
    await raw.expect(" 376 ")
    delayed = app.metrics.irc_commands_delayed._value.get()
    raw.send(*[f"PING :after-{i}" for i in range(3 * MAX_JUNK)])
    await raw.expect(f"after-{3 * MAX_JUNK - 1}")
    assert app.metrics.irc_commands_delayed._value.get() == delayed  # within its burst
    assert checked[0] == MAX_SASL_FAILURES
    await raw.close()


async def test_with_pacing_off_the_bounds_close_as_before(make_server: ServerFactory) -> None:
    app = await make_server()  # (the tests' settings: irc_command_rate 0)
    raw = await RawIrc.connect(app)
    raw.send(*["FOO bar"] * 50)
    lines = await answers_until_closed(raw)
    assert len(lines) == MAX_JUNK + 1 and "Too many commands before" in lines[-1]
    await raw.close()
