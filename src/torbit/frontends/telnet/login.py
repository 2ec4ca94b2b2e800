"""The telnet login dialogue, sans-IO: lines in, steps out. It asks for a name, then a
password (known name) or a new password twice (registration), and says what to check; the
session does the checking (store, argon2) and feeds the answers back. Unit-tested without a
socket, like h11's state machine.

A name that does not exist is asked for a password anyway when registration is closed, so a
failed login never tells whether a name exists.

A new password is taken only as it was typed: a line that lost bytes on the way (not UTF-8,
read as U+FFFD; control keys, dropped: protocol/telnet.py `lossy`) is refused with the advice
to use a UTF-8 terminal. A login's line is checked as it came, lossy or not: an account made
before that rule keeps the password its terminal gave it then (a Latin-1 `pässwörd` was
hashed as `p\ufffdssw\ufffdrd`), and refusing the line would lock it out. Accounts made since
lose nothing by it: no password set now holds U+FFFD (core/accounts.py), so a line with bytes
read as U+FFFD matches none of theirs, and one that lost a control key still needs every
character of the password."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from torbit.core.names import is_valid_name, name_hint

MAX_LOGIN_ATTEMPTS = 3
# lines answered with a refusal or the same prompt again (a blank or invalid name, a password
# refused or not repeated): past these the connection is hung up, as after failed passwords,
# so junk sent before login (random bytes make a line every ~128 bytes) is answered a few
# times, not once per line for as long as the login timeout lasts
MAX_REFUSED_LINES = 10


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    secret: bool = False  # a password: the client should not echo what is typed


@dataclass(frozen=True, slots=True)
class Error:
    text: str


@dataclass(frozen=True, slots=True)
class Hangup:
    text: str  # said, then the connection closes
    reason: str  # for the log


@dataclass(frozen=True, slots=True)
class LookUp:
    """Does this account exist? Answer with `looked_up`."""

    name: str


@dataclass(frozen=True, slots=True)
class Verify:
    """Check the password. Answer with `verified`, `wrong_password` or `throttled`."""

    name: str
    password: str


@dataclass(frozen=True, slots=True)
class Register:
    """Create the account. Answer with `verified` (it exists now) or `name_taken`."""

    name: str
    password: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    name: str  # as stored


NAME_PROMPT = Prompt("Name: ")
LOSSY_PASSWORD = (
    "password refused: your terminal sent bytes that are not UTF-8 (a letter in another"
    " character set) or control keys, so it would not be kept as typed: set your terminal to"
    " UTF-8 and type it again"
)
LOSSY_HINT = " (your terminal sent bytes that are not UTF-8, or control keys: is it set to UTF-8?)"
Step = Prompt | Error | Hangup | LookUp | Verify | Register | LoggedIn


class State(enum.Enum):
    NAME = 1
    LOOKING_UP = 2
    PASSWORD = 3
    VERIFYING = 4
    NEW_PASSWORD = 5
    REPEAT_PASSWORD = 6
    REGISTERING = 7
    DONE = 8


class LoginDialogue:
    def __init__(self, registration_open: bool, password_rules: Callable[[str], str | None]):
        """`password_rules(pw)` returns why a new password is refused, or None."""
        self._open = registration_open
        self._rules = password_rules
        self.state = State.NAME
        self.name = ""
        self._new_password = ""
        self.failures = 0
        self.junk_lines = 0  # lines answered with a refusal or the prompt again
        self._lossy_login = False  # the password being checked lost bytes on the way

    @property
    def secret(self) -> bool:
        """The next line is a password."""
        return self.state in (State.PASSWORD, State.NEW_PASSWORD, State.REPEAT_PASSWORD)

    def start(self) -> list[Step]:
        return [NAME_PROMPT]

    def receive(self, line: str, lossy: bool = False) -> list[Step]:
        """A line typed by the client (ignored while an answer is pending); `lossy`: it is
        not all that was typed (protocol/telnet.py `LineReceived`)."""
        steps = self._receive(line, lossy)
        if steps and (isinstance(steps[0], Error) or steps == [NAME_PROMPT]):
            self.junk_lines += 1  # not a step forward: asked again
            if self.junk_lines >= MAX_REFUSED_LINES:
                self.state = State.DONE
                return [Hangup("too many lines that are not a login, bye", "login junk")]
        return steps

    def _receive(self, line: str, lossy: bool) -> list[Step]:
        state = self.state
        if state is State.NAME:
            return self._on_name(line.strip())
        if state is State.PASSWORD:
            self.state = State.VERIFYING
            self._lossy_login = lossy
            return [Verify(self.name, line)]
        if state is State.NEW_PASSWORD:
            why = LOSSY_PASSWORD if lossy else self._rules(line)
            if why:
                return [Error(why), Prompt("Choose a password: ", secret=True)]
            self._new_password = line
            self.state = State.REPEAT_PASSWORD
            return [Prompt("Repeat the password: ", secret=True)]
        if state is State.REPEAT_PASSWORD:
            password, self._new_password = self._new_password, ""
            if line != password:
                self.state = State.NEW_PASSWORD
                return [
                    Error("the passwords do not match"),
                    Prompt("Choose a password: ", secret=True),
                ]
            self.state = State.REGISTERING
            return [Register(self.name, password)]
        return []

    def _on_name(self, name: str) -> list[Step]:
        if not name:
            return [Prompt("Name: ")]
        if not is_valid_name(name):
            return [Error(f"not a name: {name_hint(name)}"), Prompt("Name: ")]
        self.name = name
        self.state = State.LOOKING_UP
        return [LookUp(name)]

    # answers

    def looked_up(self, exists: bool, problem: str | None = None) -> list[Step]:
        """`problem`: why an unknown name cannot be registered (reserved, reads like a taken
        one), asked only while registration is open."""
        if not exists and self._open:
            if problem is not None:
                self.state = State.NAME
                return [Error(problem), Prompt("Name: ")]
            self.state = State.NEW_PASSWORD
            return [Prompt(f"New user {self.name}. Choose a password: ", secret=True)]
        self.state = State.PASSWORD
        return [Prompt("Password: ", secret=True)]

    def verified(self, name: str) -> list[Step]:
        self.state = State.DONE
        self.name = name
        return [LoggedIn(name)]

    def wrong_password(self, message: str) -> list[Step]:
        if self._lossy_login:  # said of the line alone: nothing of the account
            message += LOSSY_HINT
        self.failures += 1
        if self.failures >= MAX_LOGIN_ATTEMPTS:
            self.state = State.DONE
            return [Hangup("too many failed attempts, bye", "login failures")]
        self.state = State.PASSWORD
        return [Error(message), Prompt("Password: ", secret=True)]

    def throttled(self, message: str) -> list[Step]:
        self.state = State.DONE
        return [Hangup(message, "login throttled")]

    def name_taken(self, message: str = "that name was just taken; pick another") -> list[Step]:
        self.state = State.NAME
        return [Error(message), Prompt("Name: ")]

    def refused(self, message: str) -> list[Step]:
        """Registration refused for now (rate limit, busy server): said, then hang up."""
        self.state = State.DONE
        return [Hangup(message, "registration refused")]
