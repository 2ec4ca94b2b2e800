"""User and room name rules: 1–32 ASCII letters, digits, '-', '_' or '.';
compared case-insensitively."""

from __future__ import annotations

import re
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


def check_name(name: str, what: str = "name") -> str:
    """Return the key of a valid name, or raise InvalidInput saying what a good one looks like."""
    if not is_valid_name(name):
        raise InvalidInput(
            f"invalid {what} {name[:40]!r}: "
            f"use 1-{MAX_NAME_LENGTH} letters, digits, '-', '_' or '.'"
        )
    return name_key(name)


def inbox_channel(user_key: str) -> str:
    """The channel that carries private messages to one user; '@' can never start a room name."""
    return "@" + user_key


def is_inbox(channel: str) -> bool:
    return channel.startswith("@")


# Node-to-node events (ignore list changes, kicks, revocations) travel through the message log
# on this channel, so every node sees them in order; '!' can never start a room or inbox name.
EVENTS_CHANNEL = "!events"
