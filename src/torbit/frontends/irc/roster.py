"""NAMES (RPL_NAMREPLY) lines of a room in C-speed steps. A JOIN answers with the room's
whole member list; built entry by entry in Python (a `nick_of` or `mask_of` call, a prefix,
a byte count each), a crowd of N joining one room cost O(N²) Python steps and held the
door's logins at a fifth of telnet's. How each member is shown (the nick, or with
userhost-in-names `nick!user@host`) is now kept per name and dropped when that user's
clients on this door change; the list is joined, encoded and cut into lines in whole-string
operations. A member shown from another node (or another door) is looked up every time:
changes there are not seen here.

Even in whole-string steps, every JOIN still walked the room (a set of its names, a lookup
each, a join of all): O(N) for each of N joiners, the login rate falling as a crowd filled
(316/s in the first tenth of 10,000, 224/s in the last). A crowded room's entries are now
also kept joined, in blocks of a few dozen (`_View`): a JOIN finds the few names new since
the last NAMES by bisection, puts each into its block, and the answer is one join of the
blocks' texts, the blocks holding a member with a prefix joined again."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Mapping
from typing import cast

from torbit.core.models import Role
from torbit.core.names import name_key
from torbit.frontends.irc.render import prefix
from torbit.protocol.irc import MAX_BODY_BYTES

KEPT_FROM = 256  # members from which a room's joined entries are kept (`_View`)
KEPT_ROOMS = 16  # rooms (times plain/userhost-in-names) whose entries are kept at most
BLOCK = 64  # entries a block starts with; one past twice that is split
STEPS = 16  # names new since the last NAMES that are put in place; more: joined anew


class Roster:
    """Each member's NAMES entry without its prefix, by display name, for plain and
    userhost-in-names clients; for a crowded room, its entries joined (`_View`)."""

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
        self._views: dict[tuple[str, bool], _View] = {}  # by room key, userhost-in-names
        self._generation = 0  # counts forgotten entries: a view older than one is stale
        self.joins = 0  # views joined from every entry (tests count them)

    def forget(self, key: str) -> None:
        """A user's clients here changed (registered, renamed, gone): shown anew next time."""
        name = self._names.pop(key, None)
        if name is not None:
            self._shown[0].pop(name, None)
            self._shown[1].pop(name, None)
            self._generation += 1

    def text(
        self,
        room_key: str,
        names: list[str],
        full: bool,
        multi: bool,
        roles: Mapping[str, Role],
        voiced: Collection[str],
    ) -> str:
        """The NAMES entries of the room's `names` (sorted as `Hub.online` gives them), each
        with its prefix, joined by spaces: from the room's `_View` once it is crowded and
        every member in it is shown from this door."""
        if len(names) >= KEPT_FROM:
            view = self._view(room_key, names, full)
            if view is not None:
                return view.text(names, multi, roles, voiced)
        return " ".join(self.entries(names, full, multi, roles, voiced))

    def _view(self, room_key: str, names: list[str], full: bool) -> _View | None:
        views = self._views
        view = views.pop((room_key, full), None)
        if view is None or not self._caught_up(view, names, full):
            entries = self._local_entries(names, full)
            if entries is None:  # someone shown from elsewhere: looked up every time
                return None
            view = _View(names, entries, self._generation)
            self.joins += 1
        views[room_key, full] = view  # the most recently used last
        while len(views) > KEPT_ROOMS:
            del views[next(iter(views))]
        return view

    def _caught_up(self, view: _View, names: list[str], full: bool) -> bool:
        """Bring the view to `names`, if they are its names and a few new ones, and no entry
        it holds was forgotten since; False if it cannot be."""
        if view.generation != self._generation:
            return False
        new = view.new_in(names)
        if new is None:
            return False
        if new:
            entries = self._local_entries([names[i] for i in new], full)
            if entries is None or view.generation != self._generation:
                return False
            for i, entry in zip(new, entries, strict=True):
                view.insert(i, entry)
        view.names = names
        return True

    def _local_entries(self, names: list[str], full: bool) -> list[str] | None:
        """The entries of `names`, each kept; None if one is not shown from this door."""
        shown = self._shown[full]
        for name in set(names).difference(shown):
            key = name_key(name)
            if not self._local(key):
                return None
            self._keep(shown, key, name, full)
        return list(map(shown.__getitem__, names))

    def _keep(self, shown: dict[str, str], key: str, name: str, full: bool) -> None:
        if self._names.get(key, name) != name:  # shown in another case before
            self.forget(key)
        shown[name] = self._show(name, full)
        self._names[key] = name

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
        extra: dict[str, str] = {}
        for name in set(names).difference(shown):
            key = name_key(name)
            if self._local(key):
                self._keep(shown, key, name, full)
            else:
                extra[name] = self._show(name, full)
        # every name is in `shown` or in `extra` now
        if extra:
            entries = cast(list[str], list(map(extra.get, names, map(shown.get, names))))
        else:
            entries = list(map(shown.__getitem__, names))
        for key, mark in _marks(multi, roles, voiced):
            i = _index(names, key)
            if i >= 0:
                entries[i] = mark + entries[i]
        return entries


class _View:
    """A crowded room's entries without prefixes, in the order of its names, in blocks that
    each keep their text joined: a new member is put into one block (a few dozen entries
    joined again), and a NAMES answer is one join of ~N/64 texts, not of N entries."""

    __slots__ = ("blocks", "generation", "names", "starts", "texts")

    def __init__(self, names: list[str], entries: list[str], generation: int) -> None:
        self.names = names
        self.generation = generation
        self.blocks = [entries[i : i + BLOCK] for i in range(0, len(entries), BLOCK)]
        self.texts = [" ".join(b) for b in self.blocks]
        self.starts = list(range(0, len(entries), BLOCK))  # the index of each block's first

    def new_in(self, names: list[str]) -> list[int] | None:
        """Where in `names` the names not in the view are, if `names` are the view's own
        (in order) with at most STEPS more; else None. Bisection finds each (names are
        distinct and sorted alike), then whole-slice comparisons check the rest."""
        old = self.names
        more = len(names) - len(old)
        if more < 0 or more > STEPS:
            return None
        new: list[int] = []
        lo = 0
        for d in range(more):  # the first index from lo where names and old part
            hi = len(old) + d
            while lo < hi:
                mid = (lo + hi) // 2
                if names[mid] == old[mid - d]:
                    lo = mid + 1
                else:
                    hi = mid
            new.append(lo)
            lo += 1
        start = 0
        for d, i in enumerate(new):
            if names[start:i] != old[start - d : i - d]:
                return None
            start = i + 1
        if names[start:] != old[start - more :]:
            return None
        return new

    def insert(self, i: int, entry: str) -> None:
        """Put the entry of the member now at index `i` of the names in its place."""
        starts = self.starts
        b = max(0, bisect_right(starts, i) - 1)
        if b > 0 and i == starts[b]:  # at a block's start: the end of the one before
            b -= 1
        block = self.blocks[b]
        block.insert(i - starts[b], entry)
        for j in range(b + 1, len(starts)):
            starts[j] += 1
        if len(block) > 2 * BLOCK:
            half = len(block) // 2
            self.blocks[b : b + 1] = [block[:half], block[half:]]
            self.texts[b : b + 1] = [" ".join(block[:half]), " ".join(block[half:])]
            starts.insert(b + 1, starts[b] + half)
        else:
            self.texts[b] = " ".join(block)

    def text(
        self, names: list[str], multi: bool, roles: Mapping[str, Role], voiced: Collection[str]
    ) -> str:
        """Every entry, with its prefix, joined: the blocks of members with one joined anew."""
        texts = self.texts
        patched: dict[int, list[str]] = {}
        for key, mark in _marks(multi, roles, voiced):
            i = _index(names, key)
            if i < 0:
                continue
            b = bisect_right(self.starts, i) - 1
            block = patched.get(b)
            if block is None:
                block = patched[b] = self.blocks[b].copy()
            block[i - self.starts[b]] = mark + block[i - self.starts[b]]
        if patched:
            texts = texts.copy()
            for b, block in patched.items():
                texts[b] = " ".join(block)
        return " ".join(texts)


def _marks(
    multi: bool, roles: Mapping[str, Role], voiced: Collection[str]
) -> list[tuple[str, str]]:
    """(key, prefix) of the members with a role or a voice."""
    out = []
    for key in {*roles, *voiced}:
        mark = prefix(roles.get(key), multi, key in voiced)
        if mark:
            out.append((key, mark))
    return out


def _index(names: list[str], key: str) -> int:
    """Where the member whose key is `key` is among `names`, or -1 (the names are sorted by
    `str.lower`, on one node and in a cluster: core/presence.py)."""
    i = bisect_left(names, key, key=str.lower)
    return i if i < len(names) and names[i].lower() == key else -1


def namreply_lines(head: str, entries: list[str]) -> bytes:
    """RPL_NAMREPLY lines: `head` (":server 353 nick = #channel ") then as many entries as
    fit a line (MAX_BODY_BYTES with CR LF), cut at spaces, as `Message.encode` writes them
    (a lone entry without the ':'); none for an empty list."""
    return namreply_text(head, " ".join(entries))


def namreply_text(head: str, text: str) -> bytes:
    """`namreply_lines` of entries already joined by spaces."""
    if not text:
        return b""
    start_of = head.encode()
    body = text.encode()
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
