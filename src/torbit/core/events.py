"""Node events: changes that sessions on every node must feel at once (an ignore, a kick, a
mute, an invitation, a notice to a room). Each is a typed dataclass; a service registers its
handlers with `NodeEvents.on`, and `publish` applies an event here at once and on every
other node when it arrives through the message log (its own echo is skipped), so one node
and many behave the same. A right taken away is `settled`: answered once every other node
has said it applied it (`Applied`)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from torbit.core.models import Draft, Message, MessageKind
from torbit.core.names import EVENTS_CHANNEL
from torbit.core.ports import MessageLog
from torbit.errors import TorbitError

log = logging.getLogger("torbit.events")

SETTLE_WAIT_S = 1.0  # at most, for every other node to say it applied a `settled` event
EARLY_KEPT = 1024  # acknowledgments kept that came before their publisher waited


@dataclass(frozen=True, slots=True)
class NodeEvent:
    TYPE: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class IgnoreChanged(NodeEvent):
    TYPE: ClassVar[str] = "ignore"
    user: str  # key of the user whose list changed
    target: str
    on: bool


@dataclass(frozen=True, slots=True)
class Expelled(NodeEvent):
    """A kick or a ban: the user's sessions stop listening to the room."""

    TYPE: ClassVar[str] = "kick"
    room: str
    room_name: str
    user: str
    name: str
    by: str
    verb: str  # "kicked" or "banned"
    reason: str = ""
    was_member: bool = True


@dataclass(frozen=True, slots=True)
class MembershipEnded(NodeEvent):
    """A user left a room (a kick or ban is `Expelled`), or with `room` empty every room (a
    guest's account deleted): nodes forget the membership."""

    TYPE: ClassVar[str] = "left"
    room: str
    user: str
    node: str = ""  # where the user left: its sessions there were stopped by the leave itself


@dataclass(frozen=True, slots=True)
class Parted(NodeEvent):
    """A user's last session anywhere stopped listening to a room by asking (a part, a leave,
    telnet's switch of rooms): the other nodes tell it as `node` did, with its reason, at
    once; the beat that says the user went, later on this topic, is then no news."""

    TYPE: ClassVar[str] = "parted"
    room: str
    room_name: str
    user: str
    name: str
    text: str
    detail: str = ""
    node: str = ""  # where it was told already


@dataclass(frozen=True, slots=True)
class RoomDeleted(NodeEvent):
    """A room was deleted (core/roomdeletion.py): every node's sessions listening to it stop
    at once and are told `text`; nodes forget what they knew of the room, so a room made
    again under its name starts clean. `by`: the deleter's name ("" for the CLI)."""

    TYPE: ClassVar[str] = "roomdel"
    room: str
    room_name: str
    by: str
    text: str


@dataclass(frozen=True, slots=True)
class RoomDeletedAt(NodeEvent):
    """Sent just before `RoomDeleted`: the deleted room's creation (its identity: a room made
    again under the name is another) and the deletion's time, ISO 8601. An event of its own:
    a node of the previous release skips it, yet applies RoomDeleted, whose fields it knows."""

    TYPE: ClassVar[str] = "roomdel-at"
    room: str
    created_at: str
    at: str


@dataclass(frozen=True, slots=True)
class MuteChanged(NodeEvent):
    TYPE: ClassVar[str] = "mute"
    room: str
    room_name: str
    user: str
    name: str
    by: str
    until: str | None  # ISO time; None lifts the mute
    minutes: int = 0


@dataclass(frozen=True, slots=True)
class MuteGone(NodeEvent):
    """A node held a mute a read of the store found, and the store has it no more, though no
    unmute's event lifted it (its node died before publishing, or the event is on its way):
    every node reads that mute back (heal59). No notice: the unmute, if any, told the room.
    A node of the previous release skips it (`decode`)."""

    TYPE: ClassVar[str] = "mute-gone"
    room: str
    user: str


@dataclass(frozen=True, slots=True)
class Invited(NodeEvent):
    TYPE: ClassVar[str] = "invite"
    room: str
    room_name: str
    user: str
    by: str


@dataclass(frozen=True, slots=True)
class RoomSettingsChanged(NodeEvent):
    """A room's settings (key, limit, moderated, ...) changed in the store: nodes drop their
    copy (core/roomsettings.py) and read it again when next needed."""

    TYPE: ClassVar[str] = "settings"
    room: str


@dataclass(frozen=True, slots=True)
class RolesChanged(NodeEvent):
    """A room's admins or voiced members changed in a way no other event tells (a guest
    founding a room, a guest's rename, an admin right left by an older version's leave):
    nodes drop their copy (core/roomroles.py); with `room` empty, every room's."""

    TYPE: ClassVar[str] = "roles"
    room: str = ""


@dataclass(frozen=True, slots=True)
class BanMasksChanged(NodeEvent):
    """A ban mask (`kind` "b") or a ban exception ("e") was set (`on`) or lifted in a room
    (core/banmasks.py): nodes drop their copy of the room's masks; a new ban mask, or a lifted
    exception, ends the memberships of the users it now bars whose sessions listen there
    (each node checks its own sessions, as only it knows their addresses)."""

    TYPE: ClassVar[str] = "banmask"
    room: str
    room_name: str
    mask: str
    by: str
    on: bool
    kind: str = "b"


@dataclass(frozen=True, slots=True)
class MaskExemptionEnded(NodeEvent):
    """A user lost the admin rights that exempted them from a room's ban masks: each node
    matches the masks against that user's sessions listening there (only it knows their
    addresses), as a new mask is matched (banmask_actions.py)."""

    TYPE: ClassVar[str] = "maskexempt"
    room: str
    user: str  # key
    by: str


@dataclass(frozen=True, slots=True)
class RoomNotice(NodeEvent):
    """A notice to a room; `kind` (a delivery.NoticeKind value), `user`, `by` and `detail`
    say what happened, for doors that show it their own way."""

    TYPE: ClassVar[str] = "notice"
    room: str
    text: str
    kind: str = "text"
    room_name: str = ""
    user: str = ""
    by: str = ""
    detail: str = ""
    about: tuple[str, ...] = ()  # keys of the users it names


@dataclass(frozen=True, slots=True)
class SessionsRevoked(NodeEvent):
    """Close the user's sessions opened with `credential` (a password change, a deletion)
    or with the token of hash `token` (a logout); see core/revocation.py."""

    TYPE: ClassVar[str] = "revoke"
    user: str
    reason: str
    credential: str = ""
    token: str = ""
    deleted: bool = False  # the account is gone: forget it everywhere in memory too


@dataclass(frozen=True, slots=True)
class Wallops(NodeEvent):
    """A message from an operator (core/operators.py) to the operators of every node."""

    TYPE: ClassVar[str] = "wallops"
    sender: str  # the name the operator's session is known by
    account: str  # the server admin account it acts for
    text: str


@dataclass(frozen=True, slots=True)
class PresenceBeat(NodeEvent):
    """A node's heartbeat with what changed in its presence (core/presence.py). Entries are
    "room name" (came) and "room userkey" (went): names never hold a space."""

    TYPE: ClassVar[str] = "presence"
    node: str
    seq: int
    ttl: float = 0.0  # forget the node's users if no beat follows within this many seconds
    came: tuple[str, ...] = ()
    went: tuple[str, ...] = ()
    reset: bool = False  # the first chunk of a full snapshot
    more: bool = False  # more chunks of this snapshot follow
    bye: bool = False  # the node is stopping: drop its users now


@dataclass(frozen=True, slots=True)
class PresenceDetails(NodeEvent):
    """What the doors show of a node's online users besides their names (core/presence.py,
    `Details`): one entry per user, [name, ident, realname, door, away, flags], sent after
    the beats that brought them and whenever one changes. An event of its own, so a node
    that does not know it skips it and still reads the beats."""

    TYPE: ClassVar[str] = "presence-details"
    node: str
    users: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class AwayChanged(NodeEvent):
    """A user marked themselves away (`away`, already cleaned and bounded) or back (""), on
    any door (core/away.py). `rooms` are those the user's sessions listen to on the node
    where it was set: every node tells its sessions sharing one of them, or another room
    the user is in there."""

    TYPE: ClassVar[str] = "away"
    user: str  # key
    name: str
    away: str = ""
    rooms: tuple[str, ...] = ()
    node: str = ""  # where it was set (`NodeEvents.origin`)


@dataclass(frozen=True, slots=True)
class DetailsChanged(NodeEvent):
    """How the doors show a user changed on the node of their session (core/away.py): their
    real name (an IRC SETNAME) or their name (an IRC guest's NICK: alice -> Alice, or
    alice -> carol, when `user` is the new name's key). `rooms` are those the user's
    sessions listen to there: every node tells its IRC clients sharing one of them, and
    updates what it knows of the user (WHOIS, WHO, member lists)."""

    TYPE: ClassVar[str] = "details"
    user: str  # key
    name: str  # as shown from now on
    old_name: str = ""  # the name before; "" when the name did not change
    realname: str = ""  # the new real name; "" when it did not change
    rooms: tuple[str, ...] = ()
    node: str = ""  # where it changed (`NodeEvents.origin`)


@dataclass(frozen=True, slots=True)
class PresenceWanted(NodeEvent):
    """A node asks for a full presence snapshot of `node`, or of every node ("")."""

    TYPE: ClassVar[str] = "presence-wanted"
    node: str = ""


@dataclass(frozen=True, slots=True)
class Applied(NodeEvent):
    """Node `by` has applied event `event` (its id in the log) of node `to`: what a
    `settled` publisher waits for from every other node (`NodeEvents.publish`)."""

    TYPE: ClassVar[str] = "applied"
    to: str
    event: int
    by: str


E = TypeVar("E", bound=NodeEvent)
_KINDS: dict[str, type[NodeEvent]] = {
    cls.TYPE: cls
    for cls in (
        *(Applied, IgnoreChanged, Expelled, MembershipEnded, Parted, RoomDeleted),
        *(RoomDeletedAt, MuteChanged, MuteGone, Invited, RoomSettingsChanged, RolesChanged),
        *(RoomNotice, BanMasksChanged, MaskExemptionEnded, SessionsRevoked, Wallops),
        *(PresenceBeat, PresenceDetails, PresenceWanted, AwayChanged, DetailsChanged),
    )
}


# what a `settled` publish may wait on: each other node says it applied one of these (a ban
# mask, or a deop, once the members it put out there are out: `NodeEvents.defer`)
SETTLED = (
    *(Expelled, MuteChanged, IgnoreChanged, SessionsRevoked, RoomDeleted),
    *(BanMasksChanged, MaskExemptionEnded, MuteGone),
)


def encode(event: NodeEvent, origin: str) -> str:
    return json.dumps({"type": event.TYPE, "origin": origin, **dataclasses.asdict(event)})


def decode(text: str) -> tuple[NodeEvent, str] | None:
    """The event and its origin node, or None for an unknown or malformed event (a newer
    node's event type is skipped, not an error)."""
    try:
        data: dict[str, Any] = json.loads(text)
        cls = _KINDS.get(data.pop("type", None))
        origin = str(data.pop("origin", ""))
        if cls is None:
            return None
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**fields), origin
    except (ValueError, TypeError, AttributeError):
        return None


class NodeEvents:
    """The registry of handlers and the way events travel between nodes."""

    def __init__(
        self, log: MessageLog, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._log = log
        self._now = now
        self._origin = uuid.uuid4().hex  # tells this node's own events from other nodes'
        self._handlers: dict[type[NodeEvent], list[Callable[[Any], None]]] = {}
        # the other nodes alive (services.py: the presence table's); none on one node
        self.peers: Callable[[], list[str]] = list
        # a `settled` event's id -> the nodes yet to apply it, and its publisher's wait
        self._settling: dict[int, tuple[set[str], asyncio.Future[None]]] = {}
        self._saying: set[asyncio.Task[None]] = set()  # `Applied` being published
        # acknowledgments heard before their publisher began to wait (its loop busy): by
        # event id, the newest EARLY_KEPT
        self._early: dict[int, set[str]] = {}
        # nodes that let a wait run out: not waited for again until they say they applied
        # something (a node killed without its goodbye is listed until its presence expires)
        self._silent: set[str] = set()
        self._deferred: list[asyncio.Future[Any]] = []  # handlers' work of the event applied
        self.on(Applied, self._on_applied)

    @property
    def origin(self) -> str:
        """This node's id among the nodes, new at every start."""
        return self._origin

    def on(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def start(self) -> None:
        """Listen to other nodes' events; call once the message log has started."""
        await self._log.watch(EVENTS_CHANNEL)

    async def publish(self, event: NodeEvent, *, settled: bool = False) -> None:
        """Apply here at once, then on every other node through the log. `settled`, for a
        right taken away (a kick, a ban, a mute, an ignore, a revocation, a room deleted):
        return once every other node alive has said it applied the event (`Applied`), at
        most SETTLE_WAIT_S. Without it the one who asked was answered a fetch before any
        other node could apply it, and as long before as that node lagged: on two nodes
        sharing Cassandra and Kafka a kicked user's lines written 0-32 ms after the owner's
        answer were stored on the other node (stop 49's probe; waiting for this node's own
        copy of the event did not help: the other node's lag is its own). A node that let a
        wait run out (killed without its goodbye, stalled, or of a version that never says
        `Applied`) is not waited for again until it says it applied an event: each right
        taken away cost a second until its presence expired."""
        work = self._apply(event)
        draft = Draft(
            channel=EVENTS_CHANNEL,
            sender="torbit",
            text=encode(event, self._origin),
            sent_at=self._now(),
            kind=MessageKind.EVENT,
        )
        peers = set(self.peers()) if settled else set()
        if peers:
            self._silent &= peers  # forget nodes no longer listed
            peers -= self._silent
        [sent] = await self._log.publish([draft])
        if settled and work:  # this node's own part first (a ban mask's put-out here)
            await asyncio.wait(work, timeout=SETTLE_WAIT_S)
        if not peers:
            return
        peers -= self._early.pop(sent.id, set())
        if not peers:
            return
        waited = asyncio.get_running_loop().create_future()
        self._settling[sent.id] = (peers, waited)
        try:
            async with asyncio.timeout(SETTLE_WAIT_S):
                await waited
        except TimeoutError:
            left = self._settling.get(sent.id, (set(), None))[0]
            self._silent |= left
            log.warning(
                "node event %s not applied by node(s) %s in %g s: not waited for again until"
                " they answer",
                event.TYPE,
                ", ".join(sorted(left)),
                SETTLE_WAIT_S,
            )
        finally:
            self._settling.pop(sent.id, None)

    def receive(self, message: Message) -> None:
        """A committed message of EVENTS_CHANNEL: apply it unless this node sent it, and say
        so when its publisher may be waiting (`SETTLED`)."""
        decoded = decode(message.text)
        if decoded is None or decoded[1] == self._origin:
            return
        event, origin = decoded
        work = self._apply(event)
        if isinstance(event, SETTLED):
            said = Applied(origin, message.id, self._origin)
            task = asyncio.get_running_loop().create_task(self._say(said, work))
            self._saying.add(task)
            task.add_done_callback(self._saying.discard)

    async def _say(self, applied: Applied, work: list[asyncio.Future[Any]]) -> None:
        if work:  # said once the handlers' work ended (or its publisher stopped waiting)
            await asyncio.wait(work, timeout=SETTLE_WAIT_S)
        try:
            await self.publish(applied)
        except TorbitError as e:  # the log is down: the publisher stops waiting in time
            log.warning("could not say that node event %d was applied: %s", applied.event, e)

    def _on_applied(self, applied: Applied) -> None:
        if applied.by in self._silent:  # to any node: it applies events again
            self._silent.discard(applied.by)
            log.info("node %s says it applied node events again", applied.by)
        if applied.to != self._origin:
            return
        settling = self._settling.get(applied.event)
        if settling is None:  # before its publisher waits, or after it gave up
            self._early.setdefault(applied.event, set()).add(applied.by)
            if len(self._early) > EARLY_KEPT:
                del self._early[next(iter(self._early))]
            return
        peers, waited = settling
        peers.discard(applied.by)
        if not peers and not waited.done():
            waited.set_result(None)

    def apply(self, event: NodeEvent) -> list[asyncio.Future[Any]]:
        """Apply here only: an event that reached this node another way (the store's
        revocation feed, core/revocation.py); the work its handlers deferred (`defer`)."""
        return self._apply(event)

    def defer(self, work: asyncio.Future[Any]) -> None:
        """Called by a handler: the event is applied here once `work` ends too (a ban mask's
        members put out after store reads), for a `settled` publisher's answer."""
        self._deferred.append(work)

    def _apply(self, event: NodeEvent) -> list[asyncio.Future[Any]]:
        """Every handler of the event; the work they deferred."""
        outer, self._deferred = self._deferred, []  # an event published by a handler: its own
        try:
            for handler in self._handlers.get(type(event), ()):
                try:
                    handler(event)
                except Exception:  # one bad handler must not stop the others, nor the log
                    log.exception("handler of node event %s failed", event.TYPE)
            return self._deferred
        finally:
            self._deferred = outer
