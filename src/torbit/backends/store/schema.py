"""The tables, as SQLAlchemy Core metadata: the one description of the schema that queries are
written against. Alembic's versions/ create it; a contract test checks the two never drift.

Names are kept twice: `name` as first written (display case) and `key`, its lower-case form,
which is what lookups and uniqueness use. Every timestamp is stored in UTC and read back as a
timezone-aware UTC datetime (see UTCDateTime).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.engine import Dialect

from torbit.core.models import GUEST_PASSWORD_HASH

NAME = String(64)  # names are at most 32 characters; inbox channels add an "@"
KEY_BYTES = 64  # a room's join key: core.roomsettings.MAX_KEY characters of printable ASCII


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored in UTC and returned timezone-aware.

    PostgreSQL keeps `timestamptz` natively; SQLite has no time zones, so the UTC wall time is
    stored as text, which also sorts correctly for range queries (purge). A naive datetime
    is taken to be UTC already."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _fk(column: str) -> ForeignKey:
    # Rows hanging off a user or room go with it; SqlStore also deletes them explicitly so
    # the behaviour does not depend on the engine enforcing foreign keys.
    return ForeignKey(column, ondelete="CASCADE")


metadata = MetaData()

GUESTS = text(f"password_hash = '{GUEST_PASSWORD_HASH}'")  # core/models.User.is_guest

users = Table(
    "users",
    metadata,
    Column("key", NAME, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    # migration 0003: the credential id (core/models.User) and the name's skeleton
    # (core/identity.py), looked up when a new name is registered
    Column("credential", String(64), nullable=False, default=""),
    Column("skeleton", NAME, nullable=False, default=""),
    Index("ix_users_skeleton", "skeleton"),
    # migration 0010: a guest's node (core/guests.py: its lease in `nodes` keeps the guest),
    # and the guests by age, what the sweep of left-over ones pages through; partial, so
    # that accounts cost it nothing
    Column("node", NAME, nullable=False, default="", server_default=""),
    Index("ix_users_guests", "created_at", "key", sqlite_where=GUESTS, postgresql_where=GUESTS),
)

# migration 0010: when each node (NodeEvents.origin) last said through the store that it
# lives: a node cut off from the message log keeps its guests while it does
nodes = Table(
    "nodes",
    metadata,
    Column("node", NAME, primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
)

rooms = Table(
    "rooms",
    metadata,
    Column("key", NAME, primary_key=True),
    Column("name", NAME, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("owner", NAME, nullable=True),  # display name; none once that user is deleted
    Column("topic", Text, nullable=False, default=""),
    Column("private", Boolean, nullable=False, default=False),
    # migration 0004: the room's settings (core/models.RoomSettings)
    Column("join_key", String(KEY_BYTES), nullable=False, default=""),
    Column("member_limit", Integer, nullable=False, default=0),
    Column("topic_lock", Boolean, nullable=False, default=True),
    Column("no_external", Boolean, nullable=False, default=True),
    Column("moderated", Boolean, nullable=False, default=False),
    # migration 0006: who set the topic (display name) and when; "" and NULL: no topic, or
    # one set before they were kept
    Column("topic_set_by", NAME, nullable=False, default="", server_default=""),
    Column("topic_set_at", UTCDateTime, nullable=True),
    # migration 0008: the name's skeleton (core/identity.py), looked up when a room is
    # created; not unique: look-alikes stored before the rule keep their rooms
    Column("skeleton", NAME, nullable=False, default="", server_default=""),
    Index("ix_rooms_skeleton", "skeleton"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
    Column("user_key", NAME, _fk("users.key"), primary_key=True),
    # migration 0005: may speak in the room when it is moderated; goes with the membership
    Column("voiced", Boolean, nullable=False, default=False, server_default=false()),
    # migration 0013: when the user last went into the room to talk in it (telnet's /join);
    # the newest is where a returning user lands (core/comeback.py); NULL: never
    Column("entered_at", UTCDateTime, nullable=True),
    # migration 0014: joined a private room by the server-admin right alone (not invited,
    # not its owner, no invite exception): the membership ends when the right is taken away
    Column("by_right", Boolean, nullable=False, default=False, server_default=false()),
    Index("ix_memberships_user_key", "user_key"),
)

ignores = Table(
    "ignores",
    metadata,
    Column("user_key", NAME, _fk("users.key"), primary_key=True),
    Column("ignored_key", NAME, _fk("users.key"), primary_key=True),
    Index("ix_ignores_ignored_key", "ignored_key"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("user_key", NAME, _fk("users.key"), primary_key=True),
    Column("channel", NAME, primary_key=True),  # a room key or "@user"
    Column("last_id", BigInteger, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("hash", String(128), primary_key=True),
    Column("user_key", NAME, _fk("users.key"), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_tokens_user_key", "user_key"),
)

# Room moderation (migration 0002). A room's owner is rooms.owner; its admins, bans, mutes and
# pending invitations hang off the room and the user and go with either.
room_admins = Table(
    "room_admins",
    metadata,
    Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
    Column("user_key", NAME, _fk("users.key"), primary_key=True),
)

room_bans = Table(
    "room_bans",
    metadata,
    Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
    Column("user_key", NAME, _fk("users.key"), primary_key=True),
    Column("banned_at", UTCDateTime, nullable=False),
)

# Bans of whoever matches a mask (migration 0007; core/banmasks.py): they go with the room.
room_ban_masks = Table(
    "room_ban_masks",
    metadata,
    Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
    Column("mask", String(128), primary_key=True),
    Column("set_by", NAME, nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)

# Exceptions to a room's mask lists (migration 0011; core/banmasks.py), `kind` "e": ban
# exceptions. They go with the room.
room_exception_masks = Table(
    "room_exception_masks",
    metadata,
    Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
    Column("kind", String(1), primary_key=True),
    Column("mask", String(128), primary_key=True),
    Column("set_by", NAME, nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)

room_mutes = Table(
    "room_mutes",
    metadata,
    Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
    Column("user_key", NAME, _fk("users.key"), primary_key=True),
    Column("until", UTCDateTime, nullable=False),
    Index("ix_room_mutes_until", "until"),
)

room_invites = Table(
    "room_invites",
    metadata,
    Column("room_key", NAME, _fk("rooms.key"), primary_key=True),
    Column("user_key", NAME, _fk("users.key"), primary_key=True),
    Column("invited_at", UTCDateTime, nullable=False),
    Column("invited_by", NAME, nullable=True),  # the inviter's name (migration 0012)
    Index("ix_room_invites_user_key", "user_key"),
)

# Who did what to whom: plain names, no foreign keys, so entries outlive users and rooms.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", NAME, nullable=False),
    Column("action", String(16), nullable=False),
    Column("room", NAME, nullable=True),
    Column("target", NAME, nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Index("ix_audit_log_room", "room", "id"),
)

# Revocations written by processes that are not nodes (the CLI); every node polls for new
# serials and closes the sessions they name (migration 0003). Purged after a day.
revocations = Table(
    "revocations",
    metadata,
    Column("serial", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("user_key", NAME, nullable=False),
    Column("reason", Text, nullable=False),
    Column("credential", String(64), nullable=False),
    Column("token", String(128), nullable=False),
    Column("deleted", Boolean, nullable=False),
    Index("ix_revocations_at", "at"),
)

# migration 0015: up to which serial of `revocations` each node (NodeEvents.origin) has
# applied the feed, its work ended, and when it last said so (every few seconds): what the
# CLI waits for (core/feedmarks.py). Apart from `nodes`, whose rows say a node shares a
# message log (registry.py): a node on the local log writes here too. Forgotten after a day.
feed_marks = Table(
    "feed_marks",
    metadata,
    Column("node", NAME, primary_key=True),
    Column("applied", BigInteger, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

# The single-node message log (torbit.backends.message_log.sql). The primary key serves every read
# (one channel, an id range); sent_at is indexed for the retention purge only.
messages = Table(
    "messages",
    metadata,
    Column("channel", NAME, primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("sender", NAME, nullable=False),
    Column("text", Text, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("recipient", NAME, nullable=True),
    Index("ix_messages_sent_at", "sent_at"),
)

# The highest id purged from each channel, so that ids carry on from there after a purge has
# emptied a channel instead of starting again at 1 (ids must only ever increase). Written by
# purge only, never on the publish path.
purge_marks = Table(
    "purge_marks",
    metadata,
    Column("channel", NAME, primary_key=True),
    Column("last_id", BigInteger, nullable=False),
)
