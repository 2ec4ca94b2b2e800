"""What the doors show of an online user besides their name (IRC's WHOIS and WHO: ident,
real name, door, away message, invisibility), as a node tells the others of its users in
`PresenceDetails` events: each field cut to a bound, so an event of a whole beat's users
stays far below the broker's record limit (presence.py)."""

from __future__ import annotations

from dataclasses import dataclass

from torbit.core.names import name_key

# bounds of what `Details` carries, in characters: a details event of CHUNK users
# (presence.py) stays below ~250 kB, far from the broker's record limit (an away message is
# already at most AWAY_MAX bytes: core/away.py cuts it, as IRC's AWAYLEN)
IDENT_MAX, REALNAME_MAX, DOOR_MAX, AWAY_MAX = 32, 100, 16, 200


@dataclass(frozen=True, slots=True)
class Details:
    """What the doors show of an online user besides their name: the ident and real name
    their IRC client gave ("" from the other doors), the door of their session, their away
    message ("" when not away), and whether they are invisible (IRC user mode +i)."""

    ident: str = ""
    realname: str = ""
    door: str = ""
    away: str = ""
    invisible: bool = False

    def entry(self, name: str) -> tuple[str, ...]:
        return (
            name,
            self.ident[:IDENT_MAX],
            self.realname[:REALNAME_MAX],
            self.door[:DOOR_MAX],
            self.away[:AWAY_MAX],
            "i" if self.invisible else "",
        )

    @classmethod
    def of_entry(cls, entry: object) -> tuple[str, Details] | None:
        """An entry of a `PresenceDetails` event: the user's key and details, or None if
        malformed (a newer node may add fields: they are ignored)."""
        if not isinstance(entry, (list, tuple)) or len(entry) < 6:
            return None
        if not all(isinstance(f, str) for f in entry[:6]):
            return None
        name, ident, realname, door, away, flags = entry[:6]
        if not name:
            return None
        details = cls(
            ident[:IDENT_MAX],
            realname[:REALNAME_MAX],
            door[:DOOR_MAX],
            away[:AWAY_MAX],
            "i" in flags,
        )
        return name_key(name), details
