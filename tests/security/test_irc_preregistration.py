"""An IRC connection that never registers (frontends/irc/registration.py's bounds), on real
sockets. Before, it was answered for as long as the registration timeout let it (60 s), at
the pacing's 10 commands a second after a burst of 300: unknown commands and PRIVMSG with
451, PING with PONG, CAP LS with the whole listing, a PASS or NICK storm without end, SASL
guesses until the login back-off refused them. Now the eleventh command that is no part of
registering closes it, as do 100 commands in all and a third failed SASL login; each time
with `ERROR :Closing link` saying why. Counted, never timed: what was answered, then EOF."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.helpers.irc import RawIrc
from torbit.frontends.irc.registration import MAX_COMMANDS, MAX_JUNK, MAX_SASL_FAILURES


async def answers_until_closed(raw: RawIrc) -> list[str]:
    """Every line the server sends until it closes the connection."""
    lines = []
    while line := await raw.reader.readline():
        lines.append(line.decode().rstrip("\r\n"))
    return lines


async def test_junk_before_registration_is_answered_ten_times_then_the_link_is_closed(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The lines read behind the one that closed it are not handled (nor counted again).
    (With IRC pacing on, the client is held instead: test_irc_held_before_registration.py)"""
    app = await make_server()
    for junk in ("FOO bar", "PRIVMSG #den :hi", "PING :x", "LUSERS"):
        raw = await RawIrc.connect(app)
        raw.send(*[junk] * 50)
        lines = await answers_until_closed(raw)
        assert len(lines) == MAX_JUNK + 1, (junk, lines)
        assert lines[-1] == (
            f"ERROR :Closing link: irc.torbit (Too many commands before registration"
            f" ({MAX_JUNK} no part of it))"
        )
        await raw.close()
    assert app.irc is not None and app.irc.cuts.total == 4
    # counted, and told once (the first; the rest in a summary later: frontends/tally.py)
    closes = [r for r in caplog.records if "Too many commands before" in r.getMessage()]
    assert len(closes) == 1


async def test_cap_ls_again_and_again_is_junk_after_the_first(make_server: ServerFactory) -> None:
    app = await make_server()
    raw = await RawIrc.connect(app)
    raw.send(*["CAP LS 302"] * 50)
    lines = await answers_until_closed(raw)
    assert sum(" CAP * LS " in line for line in lines) == 1 + MAX_JUNK
    assert "Too many commands before registration" in lines[-1]


async def test_lines_too_long_before_registration_count_as_junk(make_server: ServerFactory) -> None:
    """(The login byte budget, 16 KB and then 1 KB a second, is lifted to send them.)"""
    app = await make_server(limits={"login_input_rate": 0})
    raw = await RawIrc.connect(app)
    for _ in range(MAX_JUNK):  # one at a time: a close with unread input is a reset
        raw.send("PRIVMSG #den :" + "x" * 9000)
        await raw.expect(" 417 ")
    raw.send("PRIVMSG #den :" + "x" * 9000)
    lines = await answers_until_closed(raw)
    assert lines == [
        f"ERROR :Closing link: irc.torbit (Too many commands before registration"
        f" ({MAX_JUNK} no part of it))"
    ]


async def test_a_pass_storm_is_closed_at_the_hundredth_command(make_server: ServerFactory) -> None:
    """PASS only keeps the guess (checked once NICK and USER are in): nothing answered, and
    no end to it before."""
    app = await make_server()
    raw = await RawIrc.connect(app)
    raw.send(*[f"PASS victim:guess-{i}" for i in range(MAX_COMMANDS + 20)])
    lines = await answers_until_closed(raw)
    assert lines == [
        f"ERROR :Closing link: irc.torbit (Too many commands before registration"
        f" (at most {MAX_COMMANDS}))"
    ]


async def test_a_third_failed_sasl_login_closes_the_link(make_server: ServerFactory) -> None:
    app = await make_server(limits={"login_free_attempts": 100})
    assert app.core is not None
    await app.core.accounts.register("victim", PASSWORD)
    raw = await RawIrc.connect(app)
    raw.send("CAP LS 302", "CAP REQ :sasl")
    await raw.expect(" ACK ")
    guess = base64.b64encode(b"\0victim\0wrong-guess").decode()
    raw.send(*[line for _ in range(10) for line in ("AUTHENTICATE PLAIN", f"AUTHENTICATE {guess}")])
    lines = await answers_until_closed(raw)
    assert sum(" 904 " in line for line in lines) == MAX_SASL_FAILURES, lines
    assert lines[-1] == (
        f"ERROR :Closing link: irc.torbit (Too many failed logins ({MAX_SASL_FAILURES}))"
    )
    # the account's owner is not locked out: two wrong, then the right one
    owner = await RawIrc.connect(app)
    owner.send("CAP LS 302", "CAP REQ :sasl")
    await owner.expect(" ACK ")
    right = base64.b64encode(f"\0victim\0{PASSWORD}".encode()).decode()
    for token in (guess, guess, right):
        owner.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {token}")
    await owner.expect(" 903 ")
    owner.send("NICK victim", "USER victim 0 * :v", "CAP END")
    await owner.expect(" 376 ")
    await owner.close()


async def test_a_real_clients_registration_is_far_from_the_bounds(
    make_server: ServerFactory,
) -> None:
    """A cautious client: CAP LS, a REQ per capability (some bots do), SASL, and a PING
    while it waits; then, registered, the junk count is gone."""
    app = await make_server()
    assert app.core is not None
    await app.core.accounts.register("alice", PASSWORD)
    alice = await RawIrc.connect(app)
    caps = ["multi-prefix", "away-notify", "account-tag", "extended-join", "server-time", "sasl"]
    alice.send("CAP LS 302", *[f"CAP REQ :{cap}" for cap in caps], "PING :lag")
    await alice.expect("PONG")
    alice.send("NICK alice", "USER alice 0 * :Alice", "AUTHENTICATE PLAIN")
    await alice.expect("AUTHENTICATE +")
    token = base64.b64encode(f"alice\0alice\0{PASSWORD}".encode()).decode()
    alice.send(f"AUTHENTICATE {token}", "CAP END")
    await alice.expect(" 376 ")
    alice.send(*[f"PING :after-{i}" for i in range(3 * MAX_JUNK)])
    await alice.expect(f"after-{3 * MAX_JUNK - 1}")
    await alice.close()
