"""NAMES (RPL_NAMREPLY) lines of a room in C-speed steps. A JOIN answers with the room's
whole member list; built entry by entry in Python (a `nick_of` or `mask_of` call, a prefix,
a byte count each), a crowd of N joining one room cost O(N²) Python steps and held the
door's logins at a fifth of telnet's. How each member is shown (the nick, or with
userhost-in-names `nick!user@host`) is now kept per name and dropped when that user's
clients on this door change; the list is joined, encoded and cut into lines in whole-string
operations. A member shown from another node (or another door) is looked up every time:
changes there are not seen here."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Collection, Mapping
from typing import cast

from torbit.core.models import Role
from torbit.core.names import name_key
from torbit.frontends.irc.render import prefix
from torbit.protocol.irc import MAX_BODY_BYTES


class Roster:
    """Each member's NAMES entry without its prefix, by display name, for plain and
    userhost-in-names clients."""

    def __init__(
        self,
        show: Callable[[str, bool], str],
        local: Callable[[str], bool],
    ) -> None:
        self._show = show  # a name as NAMES shows it: its mask with userhost-in-names
        self._local = local  # a user key with a registered client on this door
        self._shown: tuple[dict[str, str], dict[str, str]] = ({}, {})
        # user key -> the name kept in _shown (a str each, not a set: ~40 bytes a member)
        self._names: dict[str, str] = {}

    def forget(self, key: str) -> None:
        """A user's clients here changed (registered, renamed, gone): shown anew next time."""
        name = self._names.pop(key, None)
        if name is not None:
            self._shown[0].pop(name, None)
            self._shown[1].pop(name, None)

    def entries(
        self,
        names: list[str],
        full: bool,
        multi: bool,
        roles: Mapping[str, Role],
        voiced: Collection[str],
    ) -> list[str]:
        """The NAMES entries of `names` (sorted case-insensitively, as `Hub.online` gives
        them), each with its prefix: the few with a role or a voice are patched in place."""
        shown = self._shown[full]
        present = set(names)
        extra: dict[str, str] = {}
        for name in present.difference(shown):
            key = name_key(name)
            if self._local(key):
                if self._names.get(key, name) != name:  # shown in another case before
                    self.forget(key)
                shown[name] = self._show(name, full)
                self._names[key] = name
            else:
                extra[name] = self._show(name, full)
        # every name is in `shown` or in `extra` now
        if extra:
            entries = cast(list[str], list(map(extra.get, names, map(shown.get, names))))
        else:
            entries = list(map(shown.__getitem__, names))
        for key in {*roles, *voiced}:
            mark = prefix(roles.get(key), multi, key in voiced)
            if mark:
                _patch(names, entries, key, mark)
        return entries


def _patch(names: list[str], entries: list[str], key: str, mark: str) -> None:
    """Put `mark` before the entry of the member whose key is `key`, if in the room (the
    names are sorted by `str.lower`, on one node and in a cluster: core/presence.py)."""
    i = bisect_left(names, key, key=str.lower)
    if i < len(names) and names[i].lower() == key:
        entries[i] = mark + entries[i]


def namreply_lines(head: str, entries: list[str]) -> bytes:
    """RPL_NAMREPLY lines: `head` (":server 353 nick = #channel ") then as many entries as
    fit a line (MAX_BODY_BYTES with CR LF), cut at spaces, as `Message.encode` writes them
    (a lone entry without the ':'); none for an empty list."""
    if not entries:
        return b""
    start_of = head.encode()
    body = " ".join(entries).encode()
    budget = MAX_BODY_BYTES - len(start_of) - 3  # ':' and CR LF
    out: list[bytes] = []
    start, end = 0, len(body)
    while end - start > budget:
        cut = body.rfind(b" ", start, start + budget + 1)
        if cut <= start:  # an entry longer than a line (nicks are far shorter): alone
            cut = body.find(b" ", start + 1)
            if cut < 0:
                break
        out.append(_line(start_of, body[start:cut]))
        start = cut + 1
    out.append(_line(start_of, body[start:]))
    return b"".join(out)


def _line(head: bytes, chunk: bytes) -> bytes:
    colon = b":" if b" " in chunk or chunk.startswith(b":") else b""
    return head + colon + chunk + b"\r\n"
