"""Connection registration (CAP negotiation itself: caps.py), sans-IO: messages in, steps out. The
session feeds it what a client sends before it is registered and does what the steps say:
send a line, check a password, create an account, finish registering, close. Unit-tested
without a socket, like the telnet login dialogue.

The rules followed: Modern IRC "Connection Registration"; IRCv3 Capability Negotiation
(CAP LS 302 with values, REQ all-or-nothing, registration waits for CAP END); IRCv3 SASL 3.1
with the PLAIN mechanism (RFC 4616: authzid NUL authcid NUL password, base64 in 400-byte
chunks); draft/account-registration (REGISTER, before the connection is registered).

Who the client ends up as: the account it logged in to (SASL, `PASS name:password`, or the
one REGISTER created), whose name becomes its nick; else, where guests are allowed, a guest
under its nick; else it is told it needs an account and let go (464 and ERROR).
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from dataclasses import dataclass
from typing import Final

from torbit.core.names import MAX_NAME_LENGTH, is_valid_name, name_chars, unseen_character
from torbit.core.text import clean_label
from torbit.frontends.irc import numerics as n
from torbit.frontends.irc.caps import Caps
from torbit.protocol.irc import Message
from torbit.protocol.irc_replies import numeric

REALNAME_MAX: Final = 128  # characters of a real name (USER, SETNAME)
# Before registration (as telnet's login dialogue, frontends/telnet/login.py): a connection
# that never registers was answered for as long as the registration timeout let it, 10
# commands a second after a burst of 300 (pacing.py), each a 451 or a PONG; InspIRCd paces
# the unregistered at 1 a second. Past these it is closed, saying why.
MAX_JUNK: Final = 10  # commands that are no step of registering (451, 421, PING, CAP LS again)
MAX_COMMANDS: Final = 100  # commands of any kind (a client's CAP, SASL, NICK retries: ~20)
MAX_SASL_FAILURES: Final = 3  # wrong passwords over SASL (PASS: one, then closed)
STEPS: Final = frozenset({"NICK", "USER", "PASS", "AUTHENTICATE", "REGISTER", "QUIT", "PONG"})
SASL_CHUNK: Final = 400  # bytes of base64 per AUTHENTICATE line (IRCv3 SASL)
MAX_SASL_BYTES: Final = 4 * SASL_CHUNK  # a name, a password of up to 1,024 bytes, base64


def valid_nick(nick: str) -> bool:
    """A torbit name (so it can be an account's) that IRC also allows as a nick: it does not
    start with a digit or '-', and holds no '.' (IRC keeps those for server names)."""
    return is_valid_name(nick) and nick[0] not in "0123456789-" and "." not in nick


# the steps


@dataclass(frozen=True, slots=True)
class Send:
    message: Message


@dataclass(frozen=True, slots=True)
class CheckPassword:
    """Check the account's password; answer `authenticated` or `auth_failed`."""

    name: str
    password: str
    sasl: bool


@dataclass(frozen=True, slots=True)
class CreateAccount:
    """Register an account; answer `account_created` or `register_failed`."""

    name: str
    password: str


@dataclass(frozen=True, slots=True)
class Complete:
    """Registration is done: `account` is None for a guest, who must still be admitted
    (answer `nick_in_use` or `nick_refused` if that fails)."""

    nick: str
    username: str
    realname: str
    account: str | None


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


Step = Send | CheckPassword | CreateAccount | Complete | Close


class Registration:
    """What a client said about itself before registering, and what to do about it."""

    def __init__(
        self,
        server: str,
        caps: Caps,
        *,
        guests: bool,
        registration_open: bool,
        hold: bool = False,
    ) -> None:
        self.server = server
        # past a bound (MAX_JUNK, MAX_COMMANDS, MAX_SASL_FAILURES), `hold`: the client is
        # `held` (the session paces it to a command a second), else closed
        self.hold = hold
        self.held = False
        self.caps = caps
        self.guests = guests
        self.registration_open = registration_open
        self.nick: str | None = None
        self.username: str | None = None
        self.realname = ""
        self.account: str | None = None
        self.done = False
        self._pass: tuple[str, str] | None = None
        self._sasl: bytearray | None = None  # base64 received so far in a PLAIN exchange
        self._discarding = False  # within the chunks of a SASL message that was too long
        self._checking: str | None = None  # "sasl", "pass" or "register" while answered
        self._commands = 0  # commands received (`counted`)
        self._junk = 0  # of them no step of registering
        self._listed = False  # CAP LS answered once
        self._sasl_failures = 0

    def counted(self, command: str) -> str | None:
        """Every command (and line too long or invalid, as "") before registration is
        counted here: the reason to close the connection once it is past MAX_JUNK commands
        that are no step of registering, or MAX_COMMANDS in all; else None."""
        self._commands += 1
        if command not in STEPS and not self._step_of_cap(command):
            self._junk += 1
            if self._junk > MAX_JUNK:
                return f"Too many commands before registration ({MAX_JUNK} no part of it)"
        if self._commands > MAX_COMMANDS:
            return f"Too many commands before registration (at most {MAX_COMMANDS})"
        return None

    def _step_of_cap(self, command: str) -> bool:
        """CAP REQ and END are steps; CAP LS the first time (a listing is ~400 bytes)."""
        if not command.startswith("CAP "):
            return False
        if command == "CAP LS":
            listed, self._listed = self._listed, True
            return not listed
        return command in ("CAP REQ", "CAP END")

    # messages from the client

    def receive(self, msg: Message) -> list[Step]:
        if self.done:
            return []
        command = msg.command.upper()
        if command == "CAP":
            steps: list[Step] = [Send(m) for m in self.caps.handle(msg, self.nick, False)]
            if not self.caps.negotiating and self._sasl is not None:  # CAP END ends SASL
                self._sasl = None
                steps.append(self._numeric(n.ERR_SASLABORTED, "SASL authentication aborted"))
            return steps + self._maybe_complete()
        if command == "NICK":
            return self._nick(msg)
        if command == "USER":
            return self._user(msg)
        if command == "PASS":
            return self._password(msg)
        if command == "AUTHENTICATE":
            return self._authenticate(msg)
        if command == "REGISTER":
            return self._register(msg)
        return [self._numeric(n.ERR_NOTREGISTERED, "You have not registered")]

    def _nick(self, msg: Message) -> list[Step]:
        if not msg.params or not msg.params[0]:
            return [self._numeric(n.ERR_NONICKNAMEGIVEN, "No nickname given")]
        nick = msg.params[0]
        if not valid_nick(nick) and not (is_valid_name(nick) and self._logging_in()):
            return [self._numeric(n.ERR_ERRONEUSNICKNAME, nick[:64], nick_problem(nick))]
        self.nick = nick
        return self._maybe_complete()

    def _logging_in(self) -> bool:
        """A password is given or on its way (PASS, or SASL requested): the nick will be the
        account's name, which may be one IRC would refuse as a nick ('j.doe', '2fast'), so
        `irssi -n j.doe -w j.doe:pw` works. A guest's nick is checked when it is admitted."""
        return self._pass is not None or self.account is not None or "sasl" in self.caps

    def _user(self, msg: Message) -> list[Step]:
        if len(msg.params) < 4 or not msg.params[0] or not msg.params[3]:
            return [self._numeric(n.ERR_NEEDMOREPARAMS, "USER", "Not enough parameters")]
        # both are shown to others (the ident in the source of every line the client sends,
        # the real name in WHOIS and WHO): a name's characters only, a real name cleaned as
        # shown text; what is left empty becomes the nick (`IrcSession.became`)
        self.username = name_chars(msg.params[0])[:MAX_NAME_LENGTH]
        self.realname = clean_label(msg.params[3][:REALNAME_MAX], 4 * REALNAME_MAX)
        return self._maybe_complete()

    def _password(self, msg: Message) -> list[Step]:
        if not msg.params or not msg.params[0]:
            return [self._numeric(n.ERR_NEEDMOREPARAMS, "PASS", "Not enough parameters")]
        if self.nick is not None and self.username is not None:
            return []  # too late: registration is already underway (RFC 2812 3.1.1)
        name, colon, password = msg.params[0].partition(":")
        self._pass = (name, password) if colon and name else ("", msg.params[0])
        return []

    # SASL PLAIN

    def _authenticate(self, msg: Message) -> list[Step]:
        if "sasl" not in self.caps:
            return [
                self._numeric(
                    n.ERR_SASLFAIL, "SASL authentication failed: request the sasl capability first"
                )
            ]
        if not msg.params or not msg.params[0]:
            return [self._numeric(n.ERR_NEEDMOREPARAMS, "AUTHENTICATE", "Not enough parameters")]
        if self._sasl_failures >= MAX_SASL_FAILURES:  # (held: no more guesses checked here)
            return [
                self._numeric(
                    n.ERR_SASLFAIL,
                    f"SASL authentication failed: too many failed logins ({MAX_SASL_FAILURES})"
                    " on this connection",
                )
            ]
        data = msg.params[0]
        if self.account is not None:
            return [self._numeric(n.ERR_SASLALREADY, "You have already authenticated using SASL")]
        if data == "*":
            self._sasl, self._discarding = None, False
            return [self._numeric(n.ERR_SASLABORTED, "SASL authentication aborted")]
        if self._discarding:  # the rest of an exchange that was too long
            self._discarding = len(data) == SASL_CHUNK
            return []
        if self._checking is not None:
            return [
                self._numeric(
                    n.ERR_SASLFAIL, "SASL authentication failed: a login is being checked"
                )
            ]
        if self._sasl is None:
            if data.upper() != "PLAIN":
                return [
                    self._numeric(n.RPL_SASLMECHS, "PLAIN", "are available SASL mechanisms"),
                    self._numeric(n.ERR_SASLFAIL, "SASL authentication failed"),
                ]
            self._sasl = bytearray()
            return [Send(Message("AUTHENTICATE", ("+",), None))]
        if len(data) > SASL_CHUNK:
            self._sasl = None
            return [self._numeric(n.ERR_SASLTOOLONG, "SASL message too long")]
        if len(self._sasl) + len(data) > MAX_SASL_BYTES:  # fail once, drop the rest of it
            self._sasl, self._discarding = None, len(data) == SASL_CHUNK
            return [self._numeric(n.ERR_SASLFAIL, "SASL authentication failed: too long")]
        if data != "+":
            self._sasl += data.encode("ascii", "replace")
        if len(data) == SASL_CHUNK:
            return []  # more to come
        raw, self._sasl = bytes(self._sasl), None
        try:
            authzid, authcid, password = b64decode(raw, validate=True).decode().split("\0")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return [
                self._numeric(n.ERR_SASLFAIL, "SASL authentication failed: malformed PLAIN message")
            ]
        if authzid and authzid.lower() != authcid.lower():
            return [
                self._numeric(
                    n.ERR_SASLFAIL,
                    "SASL authentication failed: authzid must be empty or the account",
                )
            ]
        self._checking = "sasl"
        return [CheckPassword(authcid, password, sasl=True)]

    # REGISTER (draft/account-registration)

    def _register(self, msg: Message) -> list[Step]:
        if len(msg.params) < 3:
            return [self._numeric(n.ERR_NEEDMOREPARAMS, "REGISTER", "Not enough parameters")]
        name = self.nick if msg.params[0] == "*" and self.nick else msg.params[0]
        if not self.registration_open:
            return [self._fail("DISALLOWED", name, "registration is closed here")]
        if self.account is not None:
            return [self._fail("ALREADY_AUTHENTICATED", name, "you are already logged in")]
        if name == "*":
            return [self._fail("NEED_NICK", name, "send NICK first or name the account")]
        if not valid_nick(name):
            return [self._fail("BAD_ACCOUNT_NAME", name, nick_problem(name))]
        if self._checking is not None:
            return [self._fail("TEMPORARILY_UNAVAILABLE", name, "a login is being checked")]
        self._checking = "register"
        return [CreateAccount(name, msg.params[2])]

    # answers from the session

    def authenticated(self, account: str) -> list[Step]:
        """The password was right; `account` is the name as registered."""
        via, self._checking = self._checking, None
        self.account = account
        if via == "sasl":
            return [
                *self._logged_in(account),
                Send(self._numeric_message(n.RPL_SASLSUCCESS, "SASL authentication successful")),
                *self._maybe_complete(),
            ]
        return self._maybe_complete()

    def auth_failed(self, reason: str) -> list[Step]:
        via, self._checking = self._checking, None
        if via == "sasl":
            self._sasl_failures += 1
            failed = self._numeric(n.ERR_SASLFAIL, f"SASL authentication failed: {reason}")
            if self._sasl_failures >= MAX_SASL_FAILURES:
                if self.hold:
                    self.held = True
                    return [failed]
                return [failed, Close(f"Too many failed logins ({MAX_SASL_FAILURES})")]
            return [failed]
        return [
            self._numeric(n.ERR_PASSWDMISMATCH, f"Password incorrect: {reason}"),
            Close("wrong password"),
        ]

    def account_created(self, account: str) -> list[Step]:
        self._checking = None
        self.account = account
        success = Message("REGISTER", ("SUCCESS", account, "Account created"), self.server)
        return [Send(success), *self._logged_in(account), *self._maybe_complete()]

    def register_failed(self, code: str, name: str, reason: str) -> list[Step]:
        self._checking = None
        return [self._fail(code, name, reason)]

    def nick_in_use(self) -> list[Step]:
        """The guest could not be admitted under its nick: it must choose another."""
        nick, self.nick, self.done = self.nick or "*", None, False
        return [self._numeric(n.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")]

    def nick_refused(self, reason: str) -> list[Step]:
        nick, self.nick, self.done = self.nick or "*", None, False
        return [self._numeric(n.ERR_ERRONEUSNICKNAME, nick, reason)]

    # completing

    def _maybe_complete(self) -> list[Step]:
        if (
            self.done
            or self.nick is None
            or self.username is None
            or self.caps.negotiating
            or self._checking is not None
            or self._sasl is not None
        ):
            return []
        if self.account is not None:
            self.done = True
            return [Complete(self.account, self.username, self.realname, self.account)]
        if self._pass is not None:
            name, password = self._pass
            self._pass = None
            self._checking = "pass"
            return [CheckPassword(name or self.nick, password, sasl=False)]
        if self.guests:
            if not valid_nick(self.nick):  # taken while a login was on its way, which failed
                return self.nick_refused(nick_problem(self.nick))
            self.done = True
            return [Complete(self.nick, self.username, self.realname, None)]
        text = "Password required: log in with SASL PLAIN or PASS name:password"
        if self.registration_open:  # most clients cannot REGISTER: say where else to
            text += "; no account yet? REGISTER one, or register on telnet or the web page"
        return [self._numeric(n.ERR_PASSWDMISMATCH, text), Close("no account given")]

    def _logged_in(self, account: str) -> list[Step]:
        nick = self.nick or account
        mask = f"{nick}!{self.username or '*'}@*"
        text = f"You are now logged in as {account}"
        return [Send(self._numeric_message(n.RPL_LOGGEDIN, mask, account, text))]

    def _numeric_message(self, code: int, *params: str) -> Message:
        return numeric(self.server, self.nick, code, *params)

    def _numeric(self, code: int, *params: str) -> Send:
        return Send(self._numeric_message(code, *params))

    def _fail(self, code: str, name: str, text: str) -> Send:
        return Send(Message("FAIL", ("REGISTER", code, name[:64] or "*", text), self.server))


_NICK_RULE: Final = (
    f"use 1-{MAX_NAME_LENGTH} letters, digits, '-' or '_', not starting with a digit or '-'"
)
_NICK_RULES: Final = f"Erroneous nickname: {_NICK_RULE}"


def nick_problem(nick: str) -> str:
    """ERR_ERRONEUSNICKNAME's text for a nick `valid_nick` refuses: the nick rules, after
    the character at fault when the user cannot see it (a no-break space: the other doors
    name it too, core/names.py)."""
    unseen = unseen_character(nick)
    return f"Erroneous nickname: {unseen}; {_NICK_RULE}" if unseen else _NICK_RULES
