"""What the core needs from the outside world, as typing.Protocols named after the domain:
`torbit.backends` implements them (SQL or Cassandra store, SQL or Kafka message log) and
`torbit.app` picks the implementation by URL. The core depends only on these."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Protocol

from torbit.core.health import Health
from torbit.core.models import (
    AccountDeletion,
    AuditEntry,
    BanMask,
    Departure,
    Draft,
    Invitation,
    Message,
    Mute,
    Revocation,
    Room,
    RoomSettings,
    Standing,
    User,
)

MessageListener = Callable[[Message], None]
# committed messages handed over together (one commit's batch), in order
BatchListener = Callable[[Sequence[Message]], None]


class Store(Protocol):
    """Users, rooms, memberships, room moderation, ignore lists, read cursors and login tokens.
    Every name argument is a key (lower-case); every method raises
    torbit.errors.ServiceUnavailable when the engine is down."""

    # told of each operation that failed for the engine being down (for the metrics)
    health: Health

    async def open(self) -> None:
        """Connect and bring the schema up to date (Alembic)."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise ServiceUnavailable unless a round trip to the engine succeeds."""

    # users
    async def create_user(self, user: User, *, unlike: bool = False, node: str = "") -> User:
        """Insert a new user with its `credential` and the `skeleton` of its name; raise
        Conflict if the name (case-insensitively) is taken or, with `unlike`, if a user's
        name has the same skeleton (reads like it: a registration, not a guest), checked
        in the insert's own statement where the store can. `node`: a guest's node, whose
        lease (`touch_node`) keeps it from the sweep of left-over guests."""

    async def get_user(self, key: str) -> User | None: ...

    async def user_with_skeleton(self, skeleton: str) -> User | None:
        """A user whose name has this skeleton (core/identity.py), if any: a new name that
        reads like a taken one is refused. Served by an index."""

    async def users_named_like(self, key: str, skeleton: str) -> list[User]:
        """The user of this key, first if any, and a user whose name has this skeleton: what
        a new name is checked against, in one round trip where the store can."""

    async def user_and_ignores(self, key: str) -> tuple[User | None, list[str]]:
        """The user, if any, and the keys of the users they ignore: what a login reads, in
        one round trip where the store can."""

    async def list_users(self) -> list[User]: ...

    async def guests_created_before(
        self, before: datetime, *, after: tuple[datetime, str] | None = None, limit: int = 500
    ) -> list[tuple[User, str]]:
        """Up to `limit` guests (User.is_guest) created before `before`, with the node each
        was created for ("" if none was given), oldest first (by created_at, then key), those
        after `after` (a created_at and key: the last of the previous page) only: the sweep
        of left-over guests pages through them without reading every account."""

    async def touch_node(self, node: str, at: datetime) -> None:
        """The node lives at `at` (its lease, renewed through the store, not the message
        log: core/guests.py). Nodes not seen for a day are forgotten."""

    async def mark_applied(self, node: str, serial: int, at: datetime) -> None:
        """The node, alive at `at`, has applied the store's feed (`revocations_after`) up to
        `serial` (core/feedmarks.py); apart from its lease (`touch_node`), which says it
        shares a message log. Marks not renewed for a day are forgotten."""

    async def clock(self) -> datetime:
        """The store's time, by which the feed's marks are dated and aged (core/feedmarks.py),
        whatever clock each node or the CLI keeps (a node's own a minute off: attack57)."""

    async def nodes_applied(self, since: datetime) -> dict[str, int | None]:
        """The nodes that marked (`mark_applied`) at `since` or later, each with the serial
        of its mark, and those that renewed their lease (`touch_node`) then but never
        marked, with None (a node of an older version). A node whose last mark is older is
        not listed, whatever its lease (a node that said goodbye: its mark dated back)."""

    async def nodes_seen_since(self, since: datetime) -> list[str]:
        """The nodes whose lease was renewed at `since` or later, sorted."""

    async def set_password_hash(
        self,
        key: str,
        password_hash: str,
        *,
        credential: str | None = None,
        expected: str | None = None,
    ) -> bool:
        """Replace a user's hash, and with `credential` their credential id too (a password
        change; a rehash keeps it); False if there is no such user. With `expected`, only
        if the stored hash is still that one (compare-and-set: a change or a deletion that
        landed while the new hash was computed wins), else False too."""

    async def set_admin(self, key: str, is_admin: bool) -> bool: ...

    async def delete_user(self, key: str) -> AccountDeletion | None:
        """Delete the user with their memberships, admin rights, bans, mutes, invitations,
        ignores (both ways), cursors and tokens, in one transaction (audit entries stay).
        Rooms they owned: one left without any other member is deleted with its rows; the
        others become server-owned (owner None). None if the user is unknown."""

    # rooms and memberships
    async def ensure_room(self, room: Room, *, unlike: bool = True) -> Room:
        """Create the room unless one with the same key exists; return the stored one.
        With `unlike`, LooksAlike, and nothing created, if another room's name has the
        room's skeleton (Room.skeleton), checked and inserted so that of look-alikes created
        at once on one node, or on several sharing PostgreSQL, one is (without: the server's
        default room, which no look-alike created first may keep out). Look-alikes that were
        stored before the rule (migration 0008) both stay."""

    async def get_room(self, key: str) -> Room | None: ...

    async def list_rooms(
        self, *, after: str | None = None, limit: int | None = None
    ) -> list[tuple[Room, int]]:
        """Rooms with their member counts, by key: those after the key `after` (all without),
        at most `limit` of them (all without)."""

    async def rooms_with_counts(self, keys: list[str]) -> list[tuple[Room, int]]:
        """Those of these rooms that exist, with their member counts, by key: what a user's
        own rooms are listed with, without reading every room."""

    async def owned_rooms(self, user_key: str) -> list[str]:
        """Keys of the rooms the user owns (Room.owner, compared case-insensitively)."""

    async def empty_rooms(
        self, created_before: datetime, *, after: str | None = None, limit: int = 100
    ) -> list[str]:
        """Keys, in order, of up to `limit` rooms after the key `after` that have no members
        and were created before `created_before` (candidates for removal: the caller checks
        that they have no messages either)."""

    async def delete_room_if_empty(self, key: str) -> bool:
        """Delete the room with its invitations, bans, mutes, admins and read cursors, in one
        transaction, if it still has no members; True if it was deleted."""

    async def add_member(self, room_key: str, user_key: str, *, by_right: bool = False) -> bool:
        """True if the user was not a member before. `by_right`: a private room joined by
        the server-admin right alone (`rooms_joined_by_right`); kept only by a new
        membership (an existing one is left as it is)."""

    async def remove_member(self, room_key: str, user_key: str) -> bool:
        """End the user's membership with its room admin rights and voice, in one transaction
        (a member who leaves comes back as a plain member; the room's owner stays its owner:
        that is the room's, not the membership's). True if the user was a member."""

    async def list_members(self, room_key: str) -> list[str]:
        """Display names of the room's members, sorted."""

    async def rooms_of(self, user_key: str) -> list[str]:
        """Keys of the rooms the user is a member of."""

    async def is_member(self, room_key: str, user_key: str) -> bool:
        """Whether `room_key in rooms_of(user_key)`, by one read of the pair's own row."""

    async def rooms_joined_by_right(self, user_key: str) -> list[str]:
        """Keys of the rooms the user is a member of that they joined by the server-admin
        right alone (`add_member`'s `by_right`): those they leave when it is taken away
        (core/demotion.py)."""

    async def admit_member(self, room_key: str, user_key: str) -> bool:
        """Make the user's membership of the room, if joined by the server-admin right alone,
        an ordinary one (the room's staff invited them: core/invitations.py), kept past a
        demotion. True if it was such a membership (False for an ordinary one, or none)."""

    async def remove_member_by_right(self, room_key: str, user_key: str) -> bool:
        """`remove_member`, only if the membership is still one by the server-admin right alone
        (core/demotion.py): an `admit_member` racing it is never overtaken by it (SQL: one
        transaction; Cassandra: a lightweight transaction on the flag). True if it was removed."""

    async def enter_room(self, room_key: str, user_key: str, at: datetime) -> bool:
        """Note that the member went into the room to talk in it at `at` (telnet's /join);
        False, and nothing written, if they are not a member."""

    async def note_departures(self, moves: Sequence[Departure]) -> None:
        """`enter_room`s and forward-only `set_cursor`s of a crowd's logouts, together."""

    async def last_entered(self, user_key: str) -> str | None:
        """The key of the member room the user went into last (`enter_room`), if any: where
        a returning user lands (core/comeback.py)."""

    async def rooms_held(self, user_key: str) -> list[str]:
        """Keys of the rooms the user is a member of or owns, each once, sorted: what
        `rooms_per_user` counts (`rooms_of` and `owned_rooms` together, one round trip)."""

    # ignore lists
    async def add_ignore(self, user_key: str, ignored_key: str) -> bool: ...

    async def remove_ignore(self, user_key: str, ignored_key: str) -> bool: ...

    async def list_ignores(self, user_key: str) -> list[str]:
        """Keys of the users this user ignores."""

    async def ignorers(self, ignored_key: str) -> list[str]:
        """Keys of the users who ignore this user: a guest's rename carries their ignores
        over to its new name (core/guests.py)."""

    # read cursors (for /receive and unread)
    async def get_cursor(self, user_key: str, channel: str) -> int | None:
        """Id of the last message this user received in this channel, or None if never."""

    async def set_cursor(
        self, user_key: str, channel: str, last_id: int, *, at_once: bool = False
    ) -> None:
        """Move the cursor forward (never backward) to last_id. Committed in its turn behind
        the store calls begun before it; with `at_once` (a woken long poll's move, which read
        nothing) a store may commit it ahead of them, when it can without waiting (SQLite:
        on the caller's thread)."""

    async def advance_cursor(
        self, user_key: str, channel: str, expected: int | None, last_id: int
    ) -> bool:
        """Move the cursor to last_id only if it still stands at `expected` (None: the user
        has no cursor there yet), atomically across nodes; False, and nothing changed, when
        another move came first. A `/receive` page is delivered only once its move
        succeeded, so one page goes to one receive."""

    # room moderation: owners, admins, bans, mutes, invitations and the audit log
    async def create_room(self, room: Room) -> Room:
        """Insert a new room; raise Conflict if one with the same key exists, LooksAlike
        (a Conflict) if another has its skeleton, as `ensure_room` checks it."""

    async def delete_room(self, key: str, created_at: datetime | None = None) -> bool:
        """Delete the room with its memberships, admins, bans, mutes, invitations and read
        cursors (audit entries stay; its messages stay in the log until retention removes
        them, and are never shown in a room of the same name created later); False if
        unknown. With `created_at`, only the room of that creation, the one the caller
        checked: a room made again under the key since stays (False)."""

    async def update_room(
        self,
        key: str,
        *,
        topic: str | None = None,
        private: bool | None = None,
        settings: RoomSettings | None = None,
        topic_by: str = "",
        topic_at: datetime | None = None,
        settings_fields: Collection[str] | None = None,
        room_created: datetime | None = None,
    ) -> Room | None:
        """Change the given fields (None: leave as is; `settings` are replaced as a whole, or only
        its `settings_fields`: another admin's change of another setting, written meanwhile, stays);
        the room as now stored, or None. A topic is stored with who set it and when (`topic_by`,
        `topic_at`); an empty one clears the topic and both. With `room_created`, only the room of
        that creation, the one the caller checked: a room made again under the key since is left as
        it is (None), here and in `add_invite` and `expel` (NotFound there)."""

    async def standing(self, room_key: str, user_key: str) -> Standing:
        """Whether the user is a member, room admin, voiced, banned or invited there, and
        whether a server admin: one round trip, so authorization costs one query."""

    async def room_and_standing(self, room_key: str, user_key: str) -> tuple[Room | None, Standing]:
        """The room and the user's `standing` in it, in one round trip (a join's first
        question); (None, Standing()) if there is no such room."""

    async def set_room_admin(
        self, room_key: str, user_key: str, is_admin: bool, *, room_created: datetime | None = None
    ) -> bool:
        """Grant or revoke room admin rights; True if that changed anything. NotFound if the
        room or user is unknown, or the room is not of `room_created` (`update_room`)."""

    async def list_room_admins(self, room_key: str) -> list[str]:
        """Keys of the room's admins."""

    async def set_voice(
        self, room_key: str, user_key: str, voiced: bool, *, room_created: datetime | None = None
    ) -> bool:
        """Let a member speak in the moderated room, or no longer; True if that changed
        anything. Only a member is voiced (False for anyone else), until the membership ends
        (leave, kick, ban). NotFound if the room is not of `room_created` (`update_room`)."""

    async def list_voiced(self, room_key: str) -> list[str]:
        """Keys of the room's voiced members."""

    async def list_bans(self, room_key: str) -> list[str]:
        """Display names of the users banned from the room, sorted."""

    async def expel(
        self,
        room_key: str,
        user_key: str,
        *,
        banned_at: datetime | None = None,
        room_created: datetime | None = None,
    ) -> bool:
        """End the user's membership with its admin rights, voice and any invitation, in one
        transaction; with `banned_at`, also ban them (NotFound for no room or user, or the
        room not of `room_created`: `update_room`). True if the user was a member."""

    async def unban(self, room_key: str, user_key: str) -> bool:
        """Lift a ban; False if the user was not banned."""

    async def add_ban_mask(self, room_key: str, entry: BanMask, limit: int) -> bool:
        """Add a ban mask (canonical, core/banmasks.py) to the room's list: False if it was
        there already; ListFull if the room holds `limit` masks; NotFound for no room. The
        limit holds across nodes: adds racing there for the last places never leave the
        list past it (on Cassandra two such may both be refused)."""

    async def list_ban_masks(self, room_key: str) -> list[BanMask]:
        """The room's ban masks, by mask; the room's deletion takes them with it."""

    async def remove_ban_mask(self, room_key: str, mask: str) -> bool:
        """Lift a ban mask; False if the room had no such mask."""

    async def add_exception_mask(self, room_key: str, entry: BanMask, limit: int) -> bool:
        """Add a mask to the room's exception list `entry.kind` ("e": ban exceptions), as
        add_ban_mask does: False if it was there already; ListFull past `limit` masks of that
        kind, a limit that holds across nodes as add_ban_mask's; NotFound for no room."""

    async def list_exception_masks(self, room_key: str) -> list[BanMask]:
        """The room's exception masks of every kind, by kind then mask (gone with it)."""

    async def remove_exception_mask(self, room_key: str, kind: str, mask: str) -> bool:
        """Lift an exception mask; False if the room's list `kind` had no such mask."""

    async def remove_masks_naming(self, user_key: str) -> list[str]:
        """Lift, in every room, the exception masks (of every kind) naming exactly this
        account (`name!*@*`): the rooms where some went. Called as the account is deleted, so
        that whoever takes the name next does not come in by them (core/accounts.py)."""

    async def set_mute(
        self, room_key: str, user_key: str, until: datetime, *, room_created: datetime | None = None
    ) -> None:
        """Mute the user in the room until `until`, replacing an earlier mute. NotFound if the
        room or user is unknown, or the room is not of `room_created` (`update_room`)."""

    async def remove_mute(
        self, room_key: str, user_key: str, now: datetime, *, room_created: datetime | None = None
    ) -> bool:
        """Lift a mute; False if none was running at `now` (expired ones go silently).
        NotFound if the room is not of `room_created` (`update_room`)."""

    async def active_mutes(self, now: datetime, of: tuple[str, str] | None = None) -> list[Mute]:
        """Every mute still running at `now` (a node's copy at start), or `of` (room, user)'s."""

    async def add_invite(
        self,
        room_key: str,
        user_key: str,
        at: datetime,
        by: str = "",
        *,
        room_created: datetime | None = None,
    ) -> bool:
        """Invite the user to the room, `by` the inviter's name; True if not invited before
        (an invitation already there keeps its time and inviter). NotFound if the room or
        user is unknown, or the room is not of `room_created` (`update_room`)."""

    async def remove_invite(self, room_key: str, user_key: str) -> bool:
        """Withdraw an invitation (declined, or dropped past the bound); False if none."""

    async def invited_rooms(self, user_key: str) -> list[str]:
        """Keys of the rooms the user is invited to (and has not joined yet)."""

    async def invitations(self, user_key: str) -> list[Invitation]:
        """The user's pending invitations with their time and inviter, newest first."""

    async def banned_rooms(self, user_key: str) -> list[str]:
        """Keys of the rooms the user is banned from (a guest's rename carries them)."""

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        """Append to the audit log; the entry with its id."""

    async def list_audit(self, room_key: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The newest `limit` entries (of one room, or all), newest first."""

    async def purge_audit(self, older_than: datetime) -> int:
        """Delete the audit entries written before `older_than`; the count deleted."""

    # login tokens (HTTP bearer tokens); only a hash of each token is ever stored
    async def create_token(self, token_hash: str, user_key: str, expires_at: datetime) -> None: ...

    async def token_user(self, token_hash: str, now: datetime) -> str | None:
        """Key of the user owning an unexpired token, else None."""

    async def token_expiry(self, token_hash: str) -> datetime | None:
        """When a stored token expires (None: no such token, or revoked)."""

    async def delete_token(self, token_hash: str) -> bool: ...

    async def delete_tokens_of(self, user_key: str) -> int:
        """Revoke every token of a user (logout everywhere, password change)."""

    async def trim_tokens(self, user_key: str, keep: int) -> list[str]:
        """Delete the user's tokens but the `keep` that expire last (the newest); the hashes
        deleted, oldest first."""

    async def purge_tokens(self, now: datetime) -> int:
        """Delete the tokens that expired before `now`; the count deleted."""

    # revocations: how a process that is not a node (the CLI) tells every node to close
    # sessions; nodes poll for new ones (core/revocation.py)
    async def add_revocation(self, revocation: Revocation, at: datetime) -> int:
        """Append a revocation; its serial (serials only ever increase)."""

    async def revocations_after(
        self, serial: int, limit: int = 100
    ) -> list[tuple[int, Revocation]]:
        """Revocations with a serial above `serial`, oldest first, with their serials."""

    async def last_revocation(self) -> int:
        """The newest serial (0 if none): where a starting node begins to poll."""

    async def purge_revocations(self, older_than: datetime) -> int:
        """Delete revocations added before `older_than`; the count deleted."""


class MessageLog(Protocol):
    """The durable, ordered log of messages per channel, and the fan-out of new ones.

    `publish` returns only once the message is durable (SQLite commit, or the broker's acks=all),
    so an acknowledged message survives a crash. Committed messages of channels this node has
    `watch`ed are handed to the listener in channel order, exactly once per node.
    """

    # True when `count` has to read the messages it counts (a broker), so a count costs what
    # a read of them does and is paid from the reader's budget like one
    counts_by_reading: bool
    # told of each operation that failed for the engine being down, and of each publish not
    # acknowledged (for the metrics)
    health: Health

    async def start(self, listener: MessageListener, batches: BatchListener | None = None) -> None:
        """Start delivering committed messages to `listener`, one call each; a log that
        commits in batches hands each batch to `batches` instead, when given (the listener's
        calls in one: the fan-out then writes each client's share of a batch once)."""

    async def close(self) -> None:
        """Flush what is pending, then stop."""

    async def ping(self) -> None:
        """Raise ServiceUnavailable unless the log's engine answers."""

    async def publish(self, drafts: Sequence[Draft]) -> list[Message]:
        """Make the drafts durable, in order, and return them with their ids."""

    async def read(
        self,
        channel: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> list[Message]:
        """Messages of a channel with after < id < before, oldest first. With newest=True the
        last `limit` of that range are returned (still oldest first), else the first `limit`."""

    async def count(
        self,
        channel: str,
        *,
        after: int | None,
        limit: int,
        since: datetime,
        excluding: frozenset[str] = frozenset(),
    ) -> int:
        """How many of the first `limit` messages with id > after were sent at or after
        `since` by a sender whose key is not in `excluding` (an unread count): a count, not
        the messages, wherever the engine can count."""

    async def watch(self, channel: str) -> None:
        """Start delivering this channel's new messages to the listener (idempotent)."""

    async def unwatch(self, channel: str) -> None: ...

    async def purge(self, older_than: datetime) -> int:
        """Delete messages sent before older_than; the count deleted (0 where the engine
        expires messages itself, as Kafka's retention.ms does)."""

    async def delete_channel(self, channel: str, before: datetime | None = None) -> int:
        """Delete every message of a channel (a deleted account's inbox, a deleted room), or
        with `before` those sent before it (a deleted room's, leaving a room made again
        under its name the messages sent since its creation); the count deleted, if known.
        Ids go on increasing afterwards, never restart. Where the engine cannot delete
        records (a Kafka broker without DeleteRecords) they stay until retention expires
        them, and the core filters reads by creation time."""
