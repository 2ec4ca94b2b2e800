"""Ban masks: a room's bans of whoever matches `nick!user@host`, with `*` (any run of
characters) and `?` (one character), beside the bans of one account (moderation.py).

Who is matched is a `Visitor`: the nick (the user's name), the user part IRC shows (an IRC
client's ident; a user on another door has their lower-cased name, as the IRC door shows
them) and the host, the client's address as its door sees it (the socket's peer, or the
PROXY header's / the trusted forwarded client address where the door takes one), in one
spelling (`canonical_host`). An IPv6 host that carries an IPv4 address (6to4, NAT64, Teredo:
addresses.py) is matched as shown and as that IPv4 address: a mask matches if either does, so
`*!*@192.0.2.*` holds for the same client through a tunnel. Matching is case-insensitive as
CASEMAPPING=ascii says, over the whole mask. A mask's host may be a network
(`*!*@2001:db8::/64`, `*!*@10.0.0.0/8`): an IPv6 address is written compressed where its zeros
fall, so no wildcard holds a whole /64.

Masks are bounded: printable ASCII without spaces or commas, not starting with ':' (IRC could
not send it as a list entry), at most MAX_MASK_LENGTH
characters, MAX_BAN_MASKS per room (IRC's MAXLIST, ERR_BANLISTFULL). A mask is compiled once
into a regular expression whose every `*` but the last is an atomic group (as
`fnmatch.translate` does): each piece after a star is matched at its first place and never
tried again, so a mask like `*a*a*a*a*b` costs at most a pass over the subject per star instead
of the exponential backtracking a naive translation gives attacker-chosen masks. `*!*@*`,
which matches everyone, is allowed, as IRC allows it: whom a mask bars is the room's
admins' choice; masks never bar the room's owner, its admins or server admins (they may
always come in and lift one).

A room's ban exceptions (IRC's +e) are masks of the same form: a client matching one is not
barred by any ban mask (an account's own ban still holds: it names that account, and is
lifted by name). Its invite exceptions (IRC's +I) let a client matching one join the room while
it is private (invite-only) without an invitation; bans, the join key and the member limit
still hold. Both lists are bounded as the ban masks are, MAX_BAN_MASKS per room each."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from torbit.core.addresses import carried_ipv4
from torbit.core.events import BanMasksChanged, NodeEvents, SessionsRevoked
from torbit.core.models import Room
from torbit.core.names import is_valid_name
from torbit.core.ports import Store
from torbit.core.roomcache import RoomCache
from torbit.errors import InvalidInput

MAX_BAN_MASKS = 100  # per room, and as many ban exceptions
EXCEPT = "e"  # BanMask.kind of a ban exception
INVEX = "I"  # and of an invite exception
MAX_MASK_LENGTH = 128  # nick (32) + "!" + user (up to 32) + "@" + an IPv6 address, with room
MAX_CACHED_ROOMS = 10_000

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FOLD = str.maketrans(_UPPER, _UPPER.lower())
_STARS = re.compile(r"\*+")


def fold(text: str) -> str:
    """CASEMAPPING=ascii: only A-Z fold."""
    return text.translate(_FOLD)


_MAPPED = "::ffff:"  # an IPv4-mapped IPv6 address's prefix, as ipaddress writes it


def canonical_host(host: str) -> str:
    """The one spelling of an address a mask is matched against: an IPv4-mapped IPv6
    address (what a door bound to `::` sees of an IPv4 client) as its IPv4 address, the form
    the other doors (bound to IPv4, PROXY headers, X-Forwarded-For) give of the same client,
    and an IPv6 address compressed and lower-case, as sockets give it. Anything else as it is."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = tuple[int, int]  # an address's version and value, as network masks compare them


def _address(host: str) -> Address | None:
    """A visitor's host as an address, read once for all of a room's network masks; None
    for a host that is none."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return address.version, int(address)


def _network(host: str) -> Network:
    """A mask's host written as a network (`2001:db8::/64`, `10.0.0.0/8`), strict=False: the
    host bits are dropped; an IPv4-mapped network is its IPv4 one. InvalidInput if it is
    not one."""
    try:
        network = ipaddress.ip_network(host, strict=False)
    except ValueError:
        raise InvalidInput(f"invalid network {host[:50]!r} in a ban mask") from None
    first = network.network_address
    v4 = first.ipv4_mapped if isinstance(first, ipaddress.IPv6Address) else None
    if v4 is not None and network.prefixlen >= 96:
        return ipaddress.ip_network(f"{v4}/{network.prefixlen - 96}")
    return network


def _mask_host(host: str) -> str:
    """A mask's host part, folded, in the spelling `canonical_host` gives addresses: with
    wildcards, only the IPv4-mapped prefix is taken off (`::ffff:10.1.*` is `10.1.*`); a
    network (`/`) as `ipaddress` writes it."""
    if "/" in host:
        return str(_network(host))
    if "*" not in host and "?" not in host:
        return canonical_host(host)
    if host.startswith(_MAPPED) and ":" not in host[len(_MAPPED) :]:
        return host[len(_MAPPED) :]
    return host


@dataclass(frozen=True, slots=True)
class Visitor:
    """A client as ban masks see it; its address in one spelling (`canonical_host`), so that
    a mask written for an IPv4 client holds on a dual-stack door too."""

    nick: str
    user: str
    host: str
    carried: str | None = field(default=None, init=False)  # the IPv4 address `host` carries

    def __post_init__(self) -> None:
        if ":" in self.host:
            object.__setattr__(self, "host", canonical_host(self.host))
            object.__setattr__(self, "carried", carried_ipv4(self.host))

    @property
    def subject(self) -> str:
        return fold(f"{self.nick}!{self.user}@{self.host}")

    @property
    def carried_subject(self) -> str:
        """The subject with the carried IPv4 address as the host (only if there is one)."""
        return fold(f"{self.nick}!{self.user}@{self.carried}")

    def views(self) -> Iterator[tuple[str, Address | None]]:
        """Each (subject, address) a mask is matched against: the host as shown, then the
        IPv4 address it carries, if any."""
        yield self.subject, _address(self.host)
        if self.carried is not None:
            yield self.carried_subject, _address(self.carried)


def parse_mask(text: str) -> str | None:
    """The canonical form of a ban mask (folded, missing parts as `*`, runs of `*` as one),
    or None when `text` names one account: a plain name without wildcards, banned as
    before. InvalidInput for what is no mask."""
    if is_valid_name(text):
        return None
    if not text or len(text) > MAX_MASK_LENGTH:
        raise InvalidInput(f"a ban mask is 1-{MAX_MASK_LENGTH} characters: nick!user@host")
    if any(not "!" <= c <= "~" or c == "," for c in text):
        raise InvalidInput(
            f"invalid ban mask {text[:40]!r}: printable ASCII without spaces or commas"
        )
    nick, bang, rest = text.partition("!")
    if not bang and "@" in nick:  # user@host
        nick, rest = "*", nick
    user, _, host = rest.partition("@")
    if "!" in user or "@" in host or "!" in host:
        raise InvalidInput(f"invalid ban mask {text[:40]!r}: nick!user@host")
    host = _mask_host(fold(host))
    return _STARS.sub("*", fold(f"{nick or '*'}!{user or '*'}@{host or '*'}"))


def check_new_mask(mask: str) -> str:
    """A canonical mask fit to add to a list, or InvalidInput: one starting with ':' cannot
    be a middle parameter of an IRC line (RPL_BANLIST's, a MODE change's among others), so
    those lines were dropped: a ban set over HTTP was on no IRC client's list, and could not
    be named in a `MODE -b` to lift it. Masks stored before stay, and may be lifted."""
    if mask.startswith(":"):
        raise InvalidInput(f"invalid ban mask {mask[:40]!r}: it cannot start with ':'")
    return mask


def account_of(mask: str) -> str | None:
    """The account name a canonical mask names exactly (`name!*@*`, no wildcard in name),
    or None."""
    nick, _, rest = mask.partition("!")
    return nick if rest == "*@*" and is_valid_name(nick) else None


class Matcher:
    """One compiled mask: a pattern over `nick!user@host`, and for a mask on a network
    (`*!*@2001:db8::/64`), the network the client's address must be in (the pattern then
    takes any host)."""

    __slots__ = ("_anyone", "_net", "network", "pattern")

    def __init__(
        self, pattern: re.Pattern[str], network: Network | None = None, anyone: bool = False
    ) -> None:
        self.pattern = pattern
        self.network = network
        self._anyone = anyone  # `*!*@NETWORK`: no pattern to ask
        self._net: tuple[int, int, int] | None = None
        if network is not None:
            self._net = (network.version, int(network.network_address), int(network.netmask))

    def matches(self, visitor: Visitor) -> bool:
        return any(self.match(subject, address) for subject, address in visitor.views())

    def match(self, subject: str, address: Address | None) -> bool:
        """`subject` and `address` (`_address`): the visitor's, computed once for all of a
        room's masks; a network compared as integers (parsing the address for each network
        mask, and `ipaddress`'s `in`, made 100 of them cost a join 0.4 ms: bench/mask_match.py)."""
        if not self._anyone and self.pattern.match(subject) is None:
            return False
        net = self._net
        if net is None:
            return True
        return address is not None and address[0] == net[0] and address[1] & net[2] == net[1]


def compile_mask(mask: str) -> Matcher:
    """A canonical mask as a pattern that never backtracks into a matched star (see the
    module docstring). Its host is read as `parse_mask` writes it now: a mask stored with an
    IPv4-mapped address before that matches the IPv4 client it meant; a network, a host a
    stored mask cannot hold otherwise, is matched as one."""
    head, at, host = mask.rpartition("@")
    network = None
    if at and "/" in host:
        try:
            network = _network(host)
        except InvalidInput:  # not a network: never matches, as before networks were read
            network = ipaddress.ip_network("0.0.0.0/32")
        if head == "*!*":
            return Matcher(re.compile(".*", re.DOTALL), network, anyone=True)
        mask = f"{head}@*"
    elif at:
        mask = f"{head}@{_mask_host(host)}"
    pieces = [re.escape(p).replace(r"\?", ".") for p in mask.split("*")]
    if len(pieces) == 1:
        return Matcher(re.compile(pieces[0] + r"\Z", re.DOTALL), network)
    middle = "".join(f"(?>.*?{p})" for p in pieces[1:-1])
    return Matcher(re.compile(f"{pieces[0]}{middle}.*{pieces[-1]}\\Z", re.DOTALL), network)


@dataclass(slots=True)
class CompiledMasks:
    """One room's masks, compiled once, with who set each (`set_by`, in the same order), its
    ban exceptions and its invite exceptions."""

    masks: tuple[str, ...]
    set_by: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()
    invex: tuple[str, ...] = ()
    patterns: tuple[Matcher, ...] = field(init=False)
    exception_patterns: tuple[Matcher, ...] = field(init=False)
    invex_patterns: tuple[Matcher, ...] = field(init=False)
    _plain: tuple[Callable[[str], object], ...] = field(init=False)  # regex match, no network

    def __post_init__(self) -> None:
        self.patterns = tuple(compile_mask(m) for m in self.masks)
        self.exception_patterns = tuple(compile_mask(m) for m in self.exceptions)
        self.invex_patterns = tuple(compile_mask(m) for m in self.invex)
        self._plain = tuple(p.pattern.match for p in self.patterns if p.network is None)

    def matching(self, visitor: Visitor) -> str | None:
        """The first mask the visitor matches, or None; None too when the visitor matches
        one of the ban exceptions. Every join and every HTTP request to a room with masks
        asks: a room without network masks costs one regex call a mask, and the exceptions
        are matched only once a mask has matched. A host carrying an IPv4 address is
        matched again as that address when no mask matched it as shown."""
        mask = self._first(visitor.subject, visitor.host)
        if mask is None and visitor.carried is not None:
            mask = self._first(visitor.carried_subject, visitor.carried)
        if mask is None or self.excepted(visitor):
            return None
        return mask

    def _first(self, subject: str, host: str) -> str | None:
        """The first mask `subject` (with `host`'s address) matches, or None."""
        if len(self._plain) == len(self.masks):
            for mask, match in zip(self.masks, self._plain, strict=True):
                if match(subject) is not None:
                    return mask
            return None
        address = _address(host)
        for mask, pattern in zip(self.masks, self.patterns, strict=True):
            if pattern.match(subject, address):
                return mask
        return None

    def excepted(self, visitor: Visitor) -> bool:
        """Whether the visitor matches one of the room's ban exceptions."""
        return _any(self.exception_patterns, visitor)

    def invited(self, visitor: Visitor) -> bool:
        """Whether the visitor matches one of the room's invite exceptions."""
        return _any(self.invex_patterns, visitor)

    def setter(self, mask: str) -> str:
        """Who set the mask ("" if unknown)."""
        for m, by in zip(self.masks, self.set_by, strict=False):
            if m == mask:
                return by
        return ""


def _any(patterns: tuple[Matcher, ...], visitor: Visitor) -> bool:
    """Whether the visitor matches one of `patterns`: each of its views read once."""
    if not patterns:
        return False
    return any(p.match(subject, address) for subject, address in visitor.views() for p in patterns)


def matches(mask: str, visitor: Visitor) -> bool:
    return compile_mask(mask).matches(visitor)


class RoomMasks:
    """Each room's compiled masks on this node (roomcache.py), read from the store on a miss
    and dropped on every node when a mask of the room changes (`BanMasksChanged`). Joins ask
    it (`matching`), and so does every HTTP request that reads or writes a room
    (maskgate.py): a room without masks costs such a request one dict lookup;
    messages of sessions that listen never ask it (a new mask puts those out). An account's
    deletion drops every room's (`Accounts.delete` lifts the exceptions naming it)."""

    def __init__(self, store: Store, events: NodeEvents) -> None:
        self._store = store
        self._rooms: RoomCache[CompiledMasks] = RoomCache(MAX_CACHED_ROOMS)
        events.on(BanMasksChanged, lambda e: self.drop(e.room))
        # an account deleted: the exceptions naming it were lifted in rooms not named
        events.on(SessionsRevoked, lambda e: self._rooms.clear() if e.deleted else None)

    async def of(self, room: Room) -> CompiledMasks:
        cached = self._rooms.get(room)
        if cached is not None:
            return cached
        generation = self._rooms.generation
        listed = await self._store.list_ban_masks(room.key)
        exceptions = await self._store.list_exception_masks(room.key)
        compiled = CompiledMasks(
            tuple(m.mask for m in listed),
            tuple(m.set_by for m in listed),
            tuple(m.mask for m in exceptions if m.kind == EXCEPT),
            tuple(m.mask for m in exceptions if m.kind == INVEX),
        )
        self._rooms.keep(room, compiled, generation)
        return compiled

    def none_yet(self, room: Room) -> None:
        """A room this node has just created has no masks: nothing to read on its joins."""
        self._rooms.keep(room, CompiledMasks(()))

    async def matching(self, room: Room, visitor: Visitor) -> str | None:
        """The first of the room's masks the visitor matches, or None."""
        return (await self.of(room)).matching(visitor)

    @property
    def generation(self) -> int:
        """Counts the drops: a join that saw it change while it was under way asks again."""
        return self._rooms.generation

    def drop(self, room_key: str) -> None:
        self._rooms.drop(room_key)


def takes_name(mask: str, name: str) -> bool:
    """Whether a client named `name` could match the canonical mask, whatever its user
    part and address: the mask's nick part matches the name (`carol`, `c*`, and `*`,
    which `*!*@host` has)."""
    nick = mask.partition("!")[0]
    return matches(f"{nick}!*@*", Visitor(name, "*", "*"))
