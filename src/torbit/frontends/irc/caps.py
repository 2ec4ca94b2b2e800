"""IRCv3 capability negotiation (CAP LS 302 with values, REQ all-or-nothing, cap-notify): what
this door offers and what each client enabled, before and after it registers. Its own module
because a registered session keeps its `Caps` while the registration dialogue is dropped."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from torbit.core.numbers import ascii_number
from torbit.frontends.irc import numerics as n
from torbit.protocol.irc import Message
from torbit.protocol.irc_replies import numeric


def offered_caps(*, registration_open: bool) -> Mapping[str, str | None]:
    """The capabilities this door offers, with their CAP LS 302 values: one read-only
    mapping shared by every client (a copy each was 464 bytes)."""
    return _OFFERED[registration_open]


def _offered(registration_open: bool) -> Mapping[str, str | None]:
    caps: dict[str, str | None] = {
        "account-tag": None,
        "away-notify": None,
        "batch": None,
        "cap-notify": None,
        "draft/chathistory": None,
        "echo-message": None,
        "extended-join": None,
        "extended-monitor": None,
        "invite-notify": None,
        "labeled-response": None,
        "message-tags": None,
        "multi-prefix": None,
        "sasl": "PLAIN",
        "server-time": None,
        "setname": None,
        "userhost-in-names": None,
    }
    if registration_open:
        caps["draft/account-registration"] = "before-connect"
    return MappingProxyType(caps)


_OFFERED = {True: _offered(True), False: _offered(False)}


_NONE: frozenset[str] = frozenset()


class Caps:
    """The capabilities a client has enabled and CAP negotiation, before and after it is
    registered. The enabled set is replaced on a change, never changed in place: most
    clients enable nothing, and share one empty set."""

    __slots__ = ("enabled", "negotiating", "offered", "server", "version")

    def __init__(self, server: str, offered: Mapping[str, str | None]) -> None:
        self.server = server
        self.offered = offered
        self.enabled: frozenset[str] = _NONE
        self.version = 0
        self.negotiating = False  # registration waits until CAP END

    def __contains__(self, cap: str) -> bool:
        return cap in self.enabled

    def handle(self, msg: Message, nick: str | None, registered: bool) -> list[Message]:
        target = nick or "*"
        if not msg.params:
            return [
                numeric(self.server, nick, n.ERR_NEEDMOREPARAMS, "CAP", "Not enough parameters")
            ]
        sub = msg.params[0].upper()
        if sub == "LS":
            if not registered:
                self.negotiating = True
            arg = msg.params[1] if len(msg.params) > 1 else ""
            self.version = max(self.version, ascii_number(arg, 5) or 0)
            if self.version >= 302:
                self.enabled |= {"cap-notify"}  # implied by 302 (IRCv3 cap-notify)
            return [self._reply(target, "LS", self._listing(self.version >= 302))]
        if sub == "LIST":
            return [self._reply(target, "LIST", " ".join(sorted(self.enabled)))]
        if sub == "REQ":
            if not registered:
                self.negotiating = True
            asked = msg.params[1] if len(msg.params) > 1 else ""
            return [self._reply(target, "ACK" if self._request(asked) else "NAK", asked)]
        if sub == "END":
            self.negotiating = False
            return []
        return [
            numeric(
                self.server, nick, n.ERR_INVALIDCAPCMD, msg.params[0][:20], "Invalid CAP command"
            )
        ]

    def _request(self, asked: str) -> bool:
        """Apply the whole request, or none of it."""
        changes: list[tuple[str, bool]] = []
        for word in asked.split(" "):
            if not word:
                continue
            name = word.removeprefix("-")
            if name not in self.offered or (
                name == "cap-notify" and word[0] == "-" and self.version >= 302
            ):
                return False
            changes.append((name, word[0] != "-"))
        enabled = set(self.enabled)
        for name, on in changes:
            if on:
                enabled.add(name)
            else:
                enabled.discard(name)
        self.enabled = frozenset(enabled) or _NONE
        return bool(changes) or not asked.strip(" ")

    def _listing(self, values: bool) -> str:
        words = []
        for name, value in sorted(self.offered.items()):
            words.append(f"{name}={value}" if values and value else name)
        return " ".join(words)

    def _reply(self, target: str, sub: str, text: str) -> Message:
        return Message("CAP", (target, sub, text), self.server)
