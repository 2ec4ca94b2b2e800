"""The IRC door's registration and CAP machine without a socket: messages in, steps out (the
way the telnet login dialogue is tested)."""

from __future__ import annotations

import base64

import pytest

from torbit.frontends.irc.caps import Caps, offered_caps
from torbit.frontends.irc.registration import (
    CheckPassword,
    Close,
    Complete,
    CreateAccount,
    Registration,
    Send,
    Step,
    valid_nick,
)
from torbit.protocol.irc import Message, MessageReceived, parse_line


def machine(*, guests: bool = True, registration_open: bool = True) -> Registration:
    caps = Caps("srv", offered_caps(registration_open=registration_open))
    return Registration("srv", caps, guests=guests, registration_open=registration_open)


def feed(reg: Registration, *lines: str) -> list[Step]:
    steps: list[Step] = []
    for line in lines:
        event = parse_line(line.encode())
        assert event is not None and hasattr(event, "message")
        steps += reg.receive(event.message)
    return steps


def sent(steps: list[Step]) -> list[str]:
    """The lines a client would read, without CR LF."""
    return [s.message.encode().decode().rstrip("\r\n") for s in steps if isinstance(s, Send)]


def commands(steps: list[Step]) -> list[str]:
    return [s.message.command for s in steps if isinstance(s, Send)]


def plain(authcid: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


# registering as a guest, or not at all


def test_nick_and_user_make_a_guest_where_guests_may_come() -> None:
    reg = machine()
    steps = feed(reg, "NICK alice", "USER al 0 * :Alice Liddell")
    assert steps == [Complete("alice", "al", "Alice Liddell", None)]
    assert reg.done
    assert feed(reg, "NICK other") == []  # done: nothing more is its business


def test_without_guests_a_client_without_an_account_is_told_and_let_go() -> None:
    steps = feed(machine(guests=False), "NICK alice", "USER al 0 * :Alice")
    assert commands(steps) == ["464"]
    assert "SASL" in sent(steps)[0]
    assert isinstance(steps[-1], Close)


def test_the_order_of_nick_and_user_does_not_matter() -> None:
    steps = feed(machine(), "USER al 0 * :Alice", "NICK alice")
    assert steps == [Complete("alice", "al", "Alice", None)]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("NICK", "431"),
        ("NICK :", "431"),
        ("NICK 9lives", "432"),
        ("NICK -dash", "432"),
        ("NICK a.b", "432"),
        ("NICK " + "x" * 33, "432"),
        ("NICK a[b]", "432"),
    ],
)
def test_bad_nicks_get_their_numeric(line: str, code: str) -> None:
    reg = machine()
    assert commands(feed(reg, line)) == [code]
    assert reg.nick is None


@pytest.mark.parametrize("line", ["USER al 0 *", "USER al 0 * :", "USER :  "])
def test_user_needs_a_name_and_a_realname(line: str) -> None:
    assert commands(feed(machine(), line)) == ["461"]


def test_other_commands_wait_for_registration() -> None:
    assert sent(feed(machine(), "JOIN #lobby")) == [":srv 451 * :You have not registered"]


def test_a_nick_taken_when_admitted_can_be_chosen_again() -> None:
    reg = machine()
    feed(reg, "NICK alice", "USER al 0 * :Alice")
    assert sent(reg.nick_in_use()) == [":srv 433 * alice :Nickname is already in use"]
    assert not reg.done
    assert feed(reg, "NICK alice2") == [Complete("alice2", "al", "Alice", None)]


@pytest.mark.parametrize(
    ("nick", "ok"),
    [
        ("alice", True),
        ("Al_ice-2", True),
        ("_x", True),
        ("2fast", False),
        ("a.b", False),
        ("", False),
        ("é", False),
        ("a" * 32, True),
        ("a" * 33, False),
    ],
)
def test_valid_nicks_are_torbit_names_irc_allows(nick: str, ok: bool) -> None:
    assert valid_nick(nick) is ok


# capability negotiation


def test_cap_ls_302_lists_values_and_holds_registration_until_cap_end() -> None:
    reg = machine()
    steps = feed(reg, "CAP LS 302", "NICK alice", "USER al 0 * :Alice")
    (ls,) = sent(steps)
    assert ls.startswith(":srv CAP * LS :")
    assert "sasl=PLAIN" in ls and "draft/account-registration=before-connect" in ls
    assert "server-time" in ls and "draft/chathistory" in ls
    assert "cap-notify" in reg.caps  # implied by 302
    assert feed(reg, "CAP END") == [Complete("alice", "al", "Alice", None)]


def test_cap_ls_without_302_lists_names_only() -> None:
    (ls,) = sent(feed(machine(), "CAP LS"))
    assert "sasl " in ls + " " and "=" not in ls
    assert "draft/account-registration" in ls


def test_registration_closed_offers_no_account_registration() -> None:
    (ls,) = sent(feed(machine(registration_open=False), "CAP LS 302"))
    assert "account-registration" not in ls


def test_cap_req_is_all_or_nothing() -> None:
    reg = machine()
    assert sent(feed(reg, "CAP REQ :server-time bogus")) == [":srv CAP * NAK :server-time bogus"]
    assert "server-time" not in reg.caps
    assert sent(feed(reg, "CAP REQ :server-time echo-message")) == [
        ":srv CAP * ACK :server-time echo-message"
    ]
    assert {"server-time", "echo-message"} <= reg.caps.enabled
    assert sent(feed(reg, "CAP REQ -echo-message")) == [":srv CAP * ACK -echo-message"]
    assert "echo-message" not in reg.caps
    assert sent(feed(reg, "CAP LIST")) == [":srv CAP * LIST server-time"]


def test_cap_without_a_known_subcommand() -> None:
    assert commands(feed(machine(), "CAP")) == ["461"]
    assert sent(feed(machine(), "CAP FROB")) == [":srv 410 * FROB :Invalid CAP command"]


# SASL PLAIN


def sasl_ready() -> Registration:
    reg = machine()
    feed(reg, "CAP LS 302", "CAP REQ sasl", "NICK whatever", "USER al 0 * :Alice")
    return reg


def test_sasl_plain_logs_in_and_the_account_is_the_nick() -> None:
    reg = sasl_ready()
    assert sent(feed(reg, "AUTHENTICATE PLAIN")) == ["AUTHENTICATE +"]
    assert feed(reg, f"AUTHENTICATE {plain('Alice', 'secret-pw')}") == [
        CheckPassword("Alice", "secret-pw", sasl=True)
    ]
    steps = reg.authenticated("alice")  # the name as registered
    assert commands(steps) == ["900", "903"]
    assert sent(steps)[0] == ":srv 900 whatever whatever!al@* alice :You are now logged in as alice"
    assert feed(reg, "CAP END") == [Complete("alice", "al", "Alice", "alice")]


def test_sasl_failure_lets_the_client_try_again_or_go_on_as_a_guest() -> None:
    reg = sasl_ready()
    feed(reg, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('alice', 'wrong')}")
    assert commands(reg.auth_failed("wrong name or password")) == ["904"]
    assert feed(reg, "CAP END") == [Complete("whatever", "al", "Alice", None)]


def test_sasl_in_400_byte_chunks_and_an_empty_last_one() -> None:
    reg = sasl_ready()
    password = "p" * 596  # with "a\0a\0" that is 600 bytes: 800 of base64, two full chunks
    data = plain("a", password, "a")
    assert len(data) == 800
    feed(reg, "AUTHENTICATE PLAIN")
    assert feed(reg, f"AUTHENTICATE {data[:400]}") == []
    assert feed(reg, f"AUTHENTICATE {data[400:]}") == []
    assert feed(reg, "AUTHENTICATE +") == [CheckPassword("a", password, sasl=True)]


def test_sasl_refusals() -> None:
    assert commands(feed(machine(), "AUTHENTICATE PLAIN")) == ["904"]  # no sasl capability
    reg = sasl_ready()
    assert commands(feed(reg, "AUTHENTICATE SCRAM-SHA-256")) == ["908", "904"]
    feed(reg, "AUTHENTICATE PLAIN")
    assert commands(feed(reg, "AUTHENTICATE !!!not-base64")) == ["904"]
    feed(reg, "AUTHENTICATE PLAIN")
    assert commands(feed(reg, f"AUTHENTICATE {plain('alice', 'pw', authzid='bob')}")) == ["904"]
    feed(reg, "AUTHENTICATE PLAIN")
    assert commands(feed(reg, "AUTHENTICATE *")) == ["906"]
    feed(reg, "AUTHENTICATE PLAIN")
    assert commands(feed(reg, "AUTHENTICATE " + "A" * 401)) == ["905"]


def test_a_sasl_message_too_long_fails_once_and_its_rest_is_dropped() -> None:
    reg = sasl_ready()
    feed(reg, "AUTHENTICATE PLAIN")
    replies = feed(reg, *["AUTHENTICATE " + "A" * 400] * 20)
    assert commands(replies) == ["904"]
    assert feed(reg, "AUTHENTICATE AAAA") == []  # the last chunk of it, still dropped
    assert sent(feed(reg, "AUTHENTICATE PLAIN")) == ["AUTHENTICATE +"]  # a new exchange


def test_cap_end_aborts_an_unfinished_sasl_exchange_and_registers() -> None:
    reg = sasl_ready()
    feed(reg, "AUTHENTICATE PLAIN")
    steps = feed(reg, "CAP END")
    assert commands(steps) == ["906"]
    assert steps[-1] == Complete("whatever", "al", "Alice", None)


def test_authenticated_twice_is_refused() -> None:
    reg = sasl_ready()
    feed(reg, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('alice', 'pw')}")
    reg.authenticated("alice")
    assert commands(feed(reg, "AUTHENTICATE PLAIN")) == ["907"]


# PASS name:password


def test_pass_name_password_is_checked_when_registration_completes() -> None:
    reg = machine(guests=False)
    assert feed(reg, "PASS alice:secret-pw", "NICK whatever") == []
    assert feed(reg, "USER al 0 * :Alice") == [CheckPassword("alice", "secret-pw", sasl=False)]
    assert reg.authenticated("alice") == [Complete("alice", "al", "Alice", "alice")]


def test_pass_without_a_name_uses_the_nick() -> None:
    steps = feed(machine(), "PASS sec:ret", "NICK alice", "USER al 0 * :A")
    assert steps == [CheckPassword("sec", "ret", sasl=False)]
    steps = feed(machine(), "PASS secret", "NICK alice", "USER al 0 * :A")
    assert steps == [CheckPassword("alice", "secret", sasl=False)]


def test_a_wrong_pass_is_464_then_error() -> None:
    reg = machine()
    feed(reg, "PASS alice:nope", "NICK alice", "USER al 0 * :A")
    steps = reg.auth_failed("wrong name or password")
    assert commands(steps) == ["464"]
    assert isinstance(steps[-1], Close)


# REGISTER (draft/account-registration)


def test_register_creates_the_account_and_logs_in() -> None:
    reg = machine()
    feed(reg, "CAP LS 302", "CAP REQ draft/account-registration", "NICK alice")
    assert feed(reg, "REGISTER * * hunter22") == [CreateAccount("alice", "hunter22")]
    steps = reg.account_created("alice")
    assert sent(steps)[0] == ":srv REGISTER SUCCESS alice :Account created"
    assert commands(steps) == ["REGISTER", "900"]
    feed(reg, "USER al 0 * :Alice")
    assert feed(reg, "CAP END") == [Complete("alice", "al", "Alice", "alice")]


def test_register_refusals_are_standard_replies() -> None:
    closed = machine(registration_open=False)
    assert sent(feed(closed, "REGISTER bob * pw")) == [
        ":srv FAIL REGISTER DISALLOWED bob :registration is closed here"
    ]
    reg = machine()
    assert sent(feed(reg, "REGISTER * * pw"))[0].startswith(":srv FAIL REGISTER NEED_NICK")
    assert "BAD_ACCOUNT_NAME" in sent(feed(reg, "REGISTER 9bob * pw"))[0]
    feed(reg, "REGISTER bob * pw")
    assert sent(reg.register_failed("ACCOUNT_EXISTS", "bob", "taken")) == [
        ":srv FAIL REGISTER ACCOUNT_EXISTS bob taken"
    ]


def test_every_reply_is_one_valid_line() -> None:
    reg = machine()
    steps = feed(reg, "CAP LS 302", "NICK " + "n" * 400, "USER", "CAP END", "PING x")
    for line in sent(steps):
        assert len(line.encode()) <= 510
        event = parse_line(line.encode())
        assert isinstance(event, MessageReceived) and isinstance(event.message, Message)


# account names IRC would refuse as nicks ('j.doe', '2fast')


def test_with_a_password_the_nick_may_be_any_account_name() -> None:
    reg = machine(guests=False)
    steps = feed(reg, "PASS j.doe:secret-pw", "NICK j.doe", "USER j 0 * :J")
    assert steps == [CheckPassword("j.doe", "secret-pw", sasl=False)]
    assert reg.authenticated("j.doe") == [Complete("j.doe", "j", "J", "j.doe")]
    steps = feed(machine(), "PASS secret-pw", "NICK 2fast", "USER f 0 * :F")
    assert steps == [CheckPassword("2fast", "secret-pw", sasl=False)]


def test_with_sasl_requested_too_but_a_failed_login_leaves_a_guest_to_choose_again() -> None:
    reg = machine()
    steps = feed(reg, "CAP LS 302", "CAP REQ sasl", "NICK j.doe", "USER j 0 * :J")
    assert commands(steps) == ["CAP", "CAP"]  # LS, ACK: no 432
    assert reg.nick == "j.doe"
    feed(reg, "AUTHENTICATE PLAIN", f"AUTHENTICATE {plain('j.doe', 'wrong')}")
    assert commands(reg.auth_failed("wrong name or password")) == ["904"]
    steps = feed(reg, "CAP END")
    assert commands(steps) == ["432"] and not reg.done
    assert feed(reg, "NICK jdoe") == [Complete("jdoe", "j", "J", None)]


def test_without_a_password_such_a_nick_is_refused_at_once() -> None:
    reg = machine()
    assert commands(feed(reg, "NICK j.doe")) == ["432"]
    assert reg.nick is None
