"""User and room name rules: 1–32 ASCII letters, digits, '-', '_' or '.';
compared case-insensitively."""

from __future__ import annotations

import re
import unicodedata
from sys import intern

from torbit.errors import InvalidInput

MAX_NAME_LENGTH = 32
NAME_PATTERN = r"[A-Za-z0-9._-]{1,32}"  # also published in the HTTP API's OpenAPI document
_NAME = re.compile(NAME_PATTERN)


def is_valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


def name_key(name: str) -> str:
    """The case-folded form under which a name is stored and compared; one string per name
    however often it is asked for (a logged-in user's key is kept by the session, the hub,
    the presence and the rate limits: a copy each was ~55 bytes a user)."""
    return intern(name.lower())


_NOT_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def name_chars(text: str) -> str:
    """Only the characters a name may hold, in order: for what a client says of itself and
    others see beside its name (IRC's ident in every line's `nick!ident@host`, USERLEN)."""
    return _NOT_NAME_CHARS.sub("", text)


NAME_RULE = f"use 1-{MAX_NAME_LENGTH} letters a-z or A-Z, digits, '-', '_' or '.'"


def unseen_character(name: str) -> str | None:
    """Which character of the name, if any, is a space that is not ASCII (a no-break or
    ideographic space, U+00A0, U+3000, pasted or typed by an input method) or an invisible
    one, said by its code point: its repr alone shows `'\\xa0den'`, or nothing at all."""
    for c in name:
        if c.isspace() and c != " ":
            return f"it holds U+{ord(c):04X}, a space that is not ASCII"
        if unicodedata.category(c) == "Cf":
            return f"it holds U+{ord(c):04X}, an invisible character"
    return None


def name_hint(name: str) -> str:
    """What a good name looks like, after the character at fault if it is one the user
    cannot see (`unseen_character`)."""
    unseen = unseen_character(name)
    return f"{unseen}; {NAME_RULE}" if unseen else NAME_RULE


def check_name(name: str, what: str = "name") -> str:
    """Return the key of a valid name, or raise InvalidInput saying what a good one looks like."""
    if not is_valid_name(name):
        raise InvalidInput(f"invalid {what} {name[:40]!r}: {name_hint(name)}")
    return name_key(name)


def check_new_room_name(name: str) -> str:
    """`check_name` for a room about to be made: not of dots alone. '.' and '..' are path
    steps in a URL, which browsers, curl and httpx remove, so the web page's calls for such
    a room reached other routes (`/api/v1/rooms/./messages` read the room `messages`).
    A room made before keeps its name, and can still be found, left and deleted by it."""
    key = check_name(name, "room name")
    if not name.strip("."):
        raise InvalidInput(
            f"invalid room name {name!r}: dots alone read as a path step in a web address; "
            "use a letter, a digit, '-' or '_' too"
        )
    return key


def inbox_channel(user_key: str) -> str:
    """The channel that carries private messages to one user; '@' can never start a room name."""
    return "@" + user_key


def is_inbox(channel: str) -> bool:
    return channel.startswith("@")


# Node-to-node events (ignore list changes, kicks, revocations) travel through the message log
# on this channel, so every node sees them in order; '!' can never start a room or inbox name.
EVENTS_CHANNEL = "!events"
