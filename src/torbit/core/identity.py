"""Who may take a new name: the rules a name must pass to be registered, on top of the syntax
every name follows (names.py). They apply to new accounts only; existing accounts keep their
names and keep working.

- It starts and ends with a letter or a digit (no `alice.` beside `alice`).
- It is not reserved (`accounts.reserved_names`: admin, root, torbit, ...), in any case.
- It does not look like a name already taken: two names with the same *skeleton* would read
  alike in a chat line (`aIice` and `alice`, `b0b` and `bob`, `rnary` and `mary`, `vvill`
  and `will`, `clave` and `dave`).

The skeleton follows Unicode TR39 (section 4): every character is replaced by the prototype
of its confusable class, from the confusables data that the `confusable-homoglyphs` package
ships (Unicode's confusables.txt), then the result is case-folded, because torbit compares
names case-insensitively. torbit adds two rules of its own: '.', '-' and '_' count as one
separator (`john.doe`, `john_doe` and `john-doe` are one name to the eye), and the letters
that two others read like (`m`/`rn`, `w`/`vv`, `d`/`cl`) are one in any case. Skeletons are
stored (users, rooms): a change of these rules comes with a migration that recomputes them.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable
from importlib import resources

from torbit.core.names import name_key

DEFAULT_RESERVED_NAMES: tuple[str, ...] = (
    "admin",
    "administrator",
    "root",
    "torbit",
    "system",
    "server",
    "operator",
    "moderator",
    "mod",
    "sysop",
    "staff",
    "support",
    "security",
    "official",
    "nickserv",
    "chanserv",
    "memoserv",
    "operserv",
    "services",
    "everyone",
    "anonymous",
    "nobody",
    "null",
    "postmaster",
    "webmaster",
    "hostmaster",
)

_ENDS = re.compile(r"[A-Za-z0-9](?:.*[A-Za-z0-9])?", re.DOTALL)
# After case-folding: separators as one, and the letters that two others read like, each as
# its longer form (`m` as `rn`, `w` as `vv`, `d` as `cl`). confusables.txt lists only `m`
# (and only before folding, so `M` escaped it); these are applied to the folded text so that
# every case of them counts.
_AFTER_FOLD = str.maketrans({".": "_", "-": "_", "m": "rn", "w": "vv", "d": "cl"})


@functools.cache
def _prototypes() -> dict[str, str]:
    """Each ASCII character that is confusable with other ASCII text, mapped to its class's
    prototype. The library lists, per character, what it can be mistaken for; ASCII-to-ASCII
    entries (l/I/1/|, O/0, m/rn) are joined into classes. A class's prototype is its longest
    member (so `m` and `rn` both become `rn`), else a lower-case letter, else a letter, so
    that case-folding afterwards keeps the classes apart from the rest of the alphabet."""
    source = resources.files("confusable_homoglyphs").joinpath("confusables.json")
    data: dict[str, list[dict[str, str]]] = json.loads(source.read_text("utf-8"))
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for char, homoglyphs in data.items():
        if not char.isascii():
            continue
        for h in homoglyphs:
            if h["c"].isascii() and h["c"].isprintable():
                parent[find(h["c"])] = find(char)
    classes: dict[str, list[str]] = {}
    for member in parent:
        classes.setdefault(find(member), []).append(member)
    table: dict[str, str] = {}
    for members in classes.values():
        prototype = max(members, key=lambda m: (len(m), m.islower(), m.isalpha(), m))
        table.update({m: prototype for m in members if len(m) == 1})
    return table


def skeleton(name: str) -> str:
    """The form under which names that read alike are equal (TR39 skeleton, case-folded,
    separators as one)."""
    table = _prototypes()
    text = unicodedata.normalize("NFD", name)
    mapped = "".join(table.get(c, c) for c in text)
    return unicodedata.normalize("NFD", mapped).casefold().translate(_AFTER_FOLD)


def room_skeleton(name: str) -> str:
    """A room name's skeleton without the separators at its ends: a user's name may not
    start or end with one (`_ENDS`), a room's may, and `#lobby.` reads as `#lobby` at the
    end of a sentence (`#lobby_`, `#-lobby` beside it alike)."""
    return skeleton(name).strip("_")


class NamePolicy:
    """The rules for new names; a reserved name is refused in any case and in any form that
    reads alike (`ADMIN`, `r00t`)."""

    def __init__(self, reserved: Iterable[str] = DEFAULT_RESERVED_NAMES) -> None:
        names = list(reserved)
        # a reserved name has no display case of its own: every casing of it is reserved
        cased = [v for n in names for v in (n.lower(), n.upper(), n.capitalize())]
        self.reserved = frozenset(skeleton(v) for v in cased) | {name_key(n) for n in names}

    def problem(self, name: str, *, allow_reserved: bool = False) -> str | None:
        """Why this (syntactically valid) name may not be registered, or None. The store is
        asked separately whether the name or its skeleton is taken."""
        if not _ENDS.fullmatch(name):
            return "a name must start and end with a letter or a digit"
        if not allow_reserved and self.is_reserved(name):
            return f"the name {name!r} is reserved"
        return None

    def is_reserved(self, name: str) -> bool:
        return name_key(name) in self.reserved or skeleton(name) in self.reserved
