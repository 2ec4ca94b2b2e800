"""The telnet login dialogue without a socket: lines in, steps out, answers fed back."""

from __future__ import annotations

from torbit.frontends.telnet.login import (
    LOSSY_HINT,
    LOSSY_PASSWORD,
    Error,
    Hangup,
    LoggedIn,
    LoginDialogue,
    LookUp,
    Prompt,
    Register,
    Verify,
)


def rules(password: str) -> str | None:
    return "password too short" if len(password) < 6 else None


def test_a_known_name_is_asked_for_its_password() -> None:
    d = LoginDialogue(registration_open=True, password_rules=rules)
    assert d.start() == [Prompt("Name: ")]
    assert d.receive("  Alice ") == [LookUp("Alice")]
    assert d.looked_up(True) == [Prompt("Password: ", secret=True)]
    assert d.secret
    assert d.receive("hunter22") == [Verify("Alice", "hunter22")]
    assert d.verified("alice") == [LoggedIn("alice")]


def test_registration_asks_twice_and_checks_the_rules_first() -> None:
    d = LoginDialogue(registration_open=True, password_rules=rules)
    d.receive("bob")
    assert d.looked_up(False) == [Prompt("New user bob. Choose a password: ", secret=True)]
    assert d.receive("short") == [
        Error("password too short"),
        Prompt("Choose a password: ", secret=True),
    ]
    assert d.receive("longenough") == [Prompt("Repeat the password: ", secret=True)]
    assert d.receive("different!") == [
        Error("the passwords do not match"),
        Prompt("Choose a password: ", secret=True),
    ]
    d.receive("longenough")
    assert d.receive("longenough") == [Register("bob", "longenough")]
    assert d.name_taken() == [Error("that name was just taken; pick another"), Prompt("Name: ")]


def test_closed_registration_never_tells_whether_a_name_exists() -> None:
    d = LoginDialogue(registration_open=False, password_rules=rules)
    d.receive("nobody")
    assert d.looked_up(False) == [Prompt("Password: ", secret=True)]


def test_bad_names_and_empty_lines_ask_again() -> None:
    d = LoginDialogue(registration_open=True, password_rules=rules)
    assert d.receive("") == [Prompt("Name: ")]
    steps = d.receive("no spaces please")
    assert isinstance(steps[0], Error) and steps[1] == Prompt("Name: ")


def test_three_wrong_passwords_hang_up_and_throttling_hangs_up_at_once() -> None:
    d = LoginDialogue(registration_open=True, password_rules=rules)
    d.receive("alice")
    d.looked_up(True)
    for _ in range(2):
        d.receive("wrong")
        assert d.wrong_password("wrong name or password") == [
            Error("wrong name or password"),
            Prompt("Password: ", secret=True),
        ]
    d.receive("wrong")
    assert d.wrong_password("x") == [Hangup("too many failed attempts, bye", "login failures")]
    t = LoginDialogue(registration_open=True, password_rules=rules)
    t.receive("alice")
    t.looked_up(True)
    t.receive("guess")
    assert t.throttled("slow down") == [Hangup("slow down", "login throttled")]


def test_lines_typed_while_an_answer_is_pending_are_ignored() -> None:
    d = LoginDialogue(registration_open=True, password_rules=rules)
    d.receive("alice")
    assert d.receive("typed ahead") == []


def test_a_new_password_that_lost_bytes_is_refused_and_a_login_is_checked_as_it_came() -> None:
    """A lossy line (protocol/telnet.py) is no new password; at a login it is checked as
    it came (an account made before keeps what its terminal gave it), and a refusal of it
    says what the terminal did."""
    d = LoginDialogue(registration_open=True, password_rules=rules)
    d.receive("bob")
    d.looked_up(False)
    assert d.receive("p\ufffdssw\ufffdrd", lossy=True) == [
        Error(LOSSY_PASSWORD),
        Prompt("Choose a password: ", secret=True),
    ]
    assert "UTF-8" in LOSSY_PASSWORD
    assert d.receive("longenough") == [Prompt("Repeat the password: ", secret=True)]
    a = LoginDialogue(registration_open=True, password_rules=rules)
    a.receive("alice")
    a.looked_up(True)
    assert a.receive("p\ufffdssw\ufffdrd", lossy=True) == [Verify("alice", "p\ufffdssw\ufffdrd")]
    assert a.wrong_password("wrong name or password") == [
        Error("wrong name or password" + LOSSY_HINT),
        Prompt("Password: ", secret=True),
    ]
    a.receive("plain")
    assert a.wrong_password("wrong name or password")[0] == Error("wrong name or password")
