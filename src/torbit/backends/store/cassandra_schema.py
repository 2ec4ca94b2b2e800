"""CassandraStore's tables, as versioned CQL migrations with a schema_version table.

Query-first: one table per question the store asks, no joins; rows that must agree live in
pairs written in one logged batch. Lightweight transactions (Paxos) only where uniqueness
needs them: registering a name, creating a room, claiming a skeleton, the audit log's id
sequence, the flag that fences joins while a room is deleted, the read cursors (a
`/receive` page goes to one receive across nodes), and a room's generation with the acts
that check it (cassandra_room_acts.py); users, rooms, skeleton_claims and read_cursors rows
and room_users' static column are only ever written through them (deletions aside), so
plain and Paxos writes never mix there.

    users            key → name, hash, credential, skeleton, created, admin
                                                      login, registration (IF NOT EXISTS)
    users_by_skeleton  skeleton → keys                a new name that reads like a taken one
    rooms_by_skeleton  skeleton → room keys          a new room that reads like an existing one
    guests           one partition → (created, key) → node
                                                      guests by age: the sweep of left-over
                                                      ones (core/guests.py), no account read;
                     guests come and go, so its tombstones are purged after an hour, not ten
                     days: a row a lagging replica brings back is passed over (no user)
    nodes            one partition → node → seen      the nodes' leases (a day's TTL): a node
                                                      alive keeps its guests from the sweep
    skeleton_claims  (kind, skeleton) → key, pending  look-alikes created at once on two
                                                      nodes: one wins (LWT, cassandra_claims.py)
    rooms            key → name, created, owner, topic (with its setter and time), private,
                     closing, settings
                                                      room lookups, creation (LWT); `closing`
                                                      fences joins while a room is deleted
    room_index       one partition → room keys, in key order
                                                      pages of rooms (list_rooms, empty_rooms)
    rooms_by_owner   owner key → room keys            owned_rooms; what a deleted user owned
    room_users       (room, user) → name, member, joined, admin, voiced, banned, invited
                                     (when, by whom), muted, by_right; and, static (one a
                                     partition), room_created: the room's generation
                                     standing in one read; a room's members and their count;
                                     `joined` stays after leaving: who may hold a cursor there;
                                     an act for a room checks its generation (LWT, stop 58)
    user_rooms       (user, room) → the same flags    rooms_of, invited_rooms, user deletion;
                     and entered_at (telnet's /join)  where a returning user lands;
                     and by_right (a server admin's)  the rooms left at their demotion
    room_roles       (room, role, user) → name        a room's admins, voiced members, bans
    room_ban_masks   (room, mask) → set_by, set_at    a room's ban masks (core/banmasks.py)
    room_exception_masks  (room, kind, mask) → set_by, set_at    its ban exceptions ("e")
    mutes            one partition → (room, user, until)     active_mutes at a node's start
    ignores / ignored_by    both directions of an ignore, for the list and for deletion
    cursors          (user, channel, last_id DESC)    read cursors up to migration 4 (unused)
    read_cursors     (user, channel) → last_id        read cursors, every move a compare-and-set
    tokens / tokens_by_user                           token lookups; logout everywhere
    sequences        name → value                     audit ids, allocated by compare-and-set
    audit_log        (id >> 16, id DESC)              newest-first pages of every entry
    audit_by_room    (room, id DESC)                  newest-first pages of one room
    revocations      (serial >> 16, serial)           what nodes poll for, oldest first
    feed_marks       one partition → node → applied, seen    how far each node applied the
                                                      revocations (a day's TTL): what the
                                                      CLI waits for (core/feedmarks.py)

Times are bigint microseconds since the epoch, UTC: CQL's timestamp keeps only milliseconds
and the core's datetimes carry microseconds.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from torbit.backends.store.cassandra_cql import Cql, is_missing_table
from torbit.core.identity import room_skeleton, skeleton
from torbit.core.models import GUEST_PASSWORD_HASH
from torbit.errors import ServiceUnavailable


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]  # {ks} is the keyspace
    # Fills new tables from the old ones (a full scan: once, at the upgrade); idempotent.
    backfill: Callable[[Cql, str], Awaitable[None]] | None = None


def _flags(key: str, other: str, extra: str = "") -> str:
    return (
        f"({key} text, {other} text,{extra} member boolean, joined boolean, admin boolean, "
        f"banned_at bigint, invited_at bigint, mute_until bigint, "
        f"PRIMARY KEY ({key}, {other}))"
    )


async def _fill_room_index_and_roles(cql: Cql, ks: str) -> None:
    for row in await cql.rows(f"SELECT key FROM {ks}.rooms"):
        await cql.run(f"INSERT INTO {ks}.room_index (bucket, key) VALUES (0, ?)", row["key"])
    pairs = await cql.rows(f"SELECT room_key, user_key, admin, banned_at FROM {ks}.room_users")
    for row in pairs:
        for role, held in (("admin", row["admin"]), ("banned", row["banned_at"] is not None)):
            if not held:
                continue
            user = await cql.one(f"SELECT name FROM {ks}.users WHERE key = ?", row["user_key"])
            await cql.run(
                f"INSERT INTO {ks}.room_roles (room_key, role, user_key, name) VALUES (?, ?, ?, ?)",
                row["room_key"],
                role,
                row["user_key"],
                (user or {}).get("name") or row["user_key"],
            )


async def _fill_rooms_by_skeleton(cql: Cql, ks: str) -> None:
    for row in await cql.rows(f"SELECT key, name FROM {ks}.rooms"):
        await cql.run(
            f"INSERT INTO {ks}.rooms_by_skeleton (skeleton, key) VALUES (?, ?)",
            skeleton(str(row["name"])),
            row["key"],
        )


async def _recompute_skeletons(cql: Cql, ks: str) -> None:
    """Every stored skeleton again, by the rule core/identity.py has now: users.skeleton
    (through Paxos, as every write of users), then the rows of users_by_skeleton and
    rooms_by_skeleton, stale ones deleted. Idempotent: a run cut short is run again."""
    for row in await cql.rows(f"SELECT key, name, skeleton FROM {ks}.users"):
        new = skeleton(str(row["name"]))
        if row["skeleton"] != new:
            await cql.lwt(
                f"UPDATE {ks}.users SET skeleton = ? WHERE key = ? IF EXISTS", new, row["key"]
            )
    for index, table, rule in (
        ("users_by_skeleton", "users", skeleton),
        ("rooms_by_skeleton", "rooms", room_skeleton),
    ):
        names = {
            str(r["key"]): rule(str(r["name"]))
            for r in await cql.rows(f"SELECT key, name FROM {ks}.{table}")
        }
        for key, new in names.items():
            await cql.run(f"INSERT INTO {ks}.{index} (skeleton, key) VALUES (?, ?)", new, key)
        for r in await cql.rows(f"SELECT skeleton, key FROM {ks}.{index}"):
            if names.get(str(r["key"])) not in (None, r["skeleton"]):
                await cql.run(
                    f"DELETE FROM {ks}.{index} WHERE skeleton = ? AND key = ?",
                    r["skeleton"],
                    r["key"],
                )


async def _fill_read_cursors(cql: Cql, ks: str) -> None:
    highest: dict[tuple[str, str], int] = {}
    for row in await cql.rows(f"SELECT user_key, channel, last_id FROM {ks}.cursors"):
        pair = (str(row["user_key"]), str(row["channel"]))
        highest[pair] = max(highest.get(pair, 0), int(row["last_id"]))
    for (user_key, channel), last_id in highest.items():
        await cql.lwt(
            f"INSERT INTO {ks}.read_cursors (user_key, channel, last_id) VALUES (?, ?, ?) "
            "IF NOT EXISTS",
            user_key,
            channel,
            last_id,
        )


async def _fill_guests(cql: Cql, ks: str) -> None:
    for row in await cql.rows(f"SELECT key, password_hash, created_at FROM {ks}.users"):
        if row["password_hash"] == GUEST_PASSWORD_HASH:
            await cql.run(
                f"INSERT INTO {ks}.guests (bucket, created_at, key, node) VALUES (0, ?, ?, '')",
                row["created_at"],
                row["key"],
            )


async def _fill_by_right(cql: Cql, ks: str) -> None:
    """user_rooms' by_right onto the room_users row of a membership there (only while it
    is one: `IF member = true`, so a stale mirror makes no row)."""
    for row in await cql.rows(f"SELECT user_key, room_key, member, by_right FROM {ks}.user_rooms"):
        if row["member"] and row["by_right"]:
            await cql.lwt(
                f"UPDATE {ks}.room_users SET by_right = true WHERE room_key = ? AND user_key = ? "
                "IF member = true",
                row["room_key"],
                row["user_key"],
            )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "users, rooms, memberships, moderation, ignores, cursors, tokens, audit, revocations",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.users (key text PRIMARY KEY, name text, "
            "password_hash text, credential text, skeleton text, created_at bigint, "
            "is_admin boolean)",
            "CREATE TABLE IF NOT EXISTS {ks}.users_by_skeleton (skeleton text, key text, "
            "PRIMARY KEY (skeleton, key))",
            "CREATE TABLE IF NOT EXISTS {ks}.rooms (key text PRIMARY KEY, name text, "
            "created_at bigint, owner text, topic text, private boolean)",
            "CREATE TABLE IF NOT EXISTS {ks}.rooms_by_owner (owner_key text, room_key text, "
            "PRIMARY KEY (owner_key, room_key))",
            "CREATE TABLE IF NOT EXISTS {ks}.room_users "
            + _flags("room_key", "user_key", " name text,"),
            "CREATE TABLE IF NOT EXISTS {ks}.user_rooms " + _flags("user_key", "room_key"),
            "CREATE TABLE IF NOT EXISTS {ks}.mutes (bucket int, room_key text, user_key text, "
            "until bigint, PRIMARY KEY (bucket, room_key, user_key))",
            "CREATE TABLE IF NOT EXISTS {ks}.ignores (user_key text, ignored_key text, "
            "PRIMARY KEY (user_key, ignored_key))",
            "CREATE TABLE IF NOT EXISTS {ks}.ignored_by (ignored_key text, user_key text, "
            "PRIMARY KEY (ignored_key, user_key))",
            "CREATE TABLE IF NOT EXISTS {ks}.cursors (user_key text, channel text, last_id bigint, "
            "PRIMARY KEY (user_key, channel, last_id)) "
            "WITH CLUSTERING ORDER BY (channel ASC, last_id DESC)",
            "CREATE TABLE IF NOT EXISTS {ks}.tokens (hash text PRIMARY KEY, user_key text, "
            "expires_at bigint)",
            "CREATE TABLE IF NOT EXISTS {ks}.tokens_by_user (user_key text, hash text, "
            "PRIMARY KEY (user_key, hash))",
            "CREATE TABLE IF NOT EXISTS {ks}.sequences (name text PRIMARY KEY, value bigint)",
            "CREATE TABLE IF NOT EXISTS {ks}.audit_log (bucket bigint, id bigint, at bigint, "
            "actor text, action text, room text, target text, detail text, "
            "PRIMARY KEY (bucket, id)) WITH CLUSTERING ORDER BY (id DESC)",
            "CREATE TABLE IF NOT EXISTS {ks}.audit_by_room (room text, id bigint, at bigint, "
            "actor text, action text, target text, detail text, "
            "PRIMARY KEY (room, id)) WITH CLUSTERING ORDER BY (id DESC)",
            "CREATE TABLE IF NOT EXISTS {ks}.revocations (bucket bigint, serial bigint, at bigint, "
            "user_key text, reason text, credential text, token_hash text, deleted boolean, "
            "PRIMARY KEY (bucket, serial))",
        ),
    ),
    Migration(
        2,
        "rooms in key order, room admins and bans by room, the closing fence of rooms",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.room_index (bucket int, key text, "
            "PRIMARY KEY (bucket, key))",
            "CREATE TABLE IF NOT EXISTS {ks}.room_roles (room_key text, role text, "
            "user_key text, name text, PRIMARY KEY (room_key, role, user_key))",
            "ALTER TABLE {ks}.rooms ADD IF NOT EXISTS closing boolean",
        ),
        _fill_room_index_and_roles,
    ),
    Migration(
        3,
        "room settings: join key, member limit, topic lock, no outside messages, moderated",
        tuple(
            f"ALTER TABLE {{ks}}.rooms ADD IF NOT EXISTS {column}"
            for column in (
                "join_key text",
                "member_limit int",
                "topic_lock boolean",
                "no_external boolean",
                "moderated boolean",
            )
        ),
    ),
    Migration(
        4,
        "read cursors moved by compare-and-set",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.read_cursors (user_key text, channel text, "
            "last_id bigint, PRIMARY KEY (user_key, channel))",
        ),
        _fill_read_cursors,
    ),
    Migration(
        5,
        "voice: members who may speak in a moderated room",
        (
            "ALTER TABLE {ks}.room_users ADD IF NOT EXISTS voiced boolean",
            "ALTER TABLE {ks}.user_rooms ADD IF NOT EXISTS voiced boolean",
        ),
    ),
    Migration(
        6,
        "who set a room's topic and when",
        (
            "ALTER TABLE {ks}.rooms ADD IF NOT EXISTS topic_set_by text",
            "ALTER TABLE {ks}.rooms ADD IF NOT EXISTS topic_set_at bigint",
        ),
    ),
    Migration(
        7,
        "ban masks: a room's bans of whoever matches nick!user@host",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.room_ban_masks (room_key text, mask text, "
            "set_by text, set_at bigint, PRIMARY KEY (room_key, mask))",
        ),
    ),
    Migration(
        8,
        "room skeletons: no new room reads like an existing one",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.rooms_by_skeleton (skeleton text, key text, "
            "PRIMARY KEY (skeleton, key))",
        ),
        _fill_rooms_by_skeleton,
    ),
    Migration(
        9,
        "skeletons recomputed (polish): w/vv, d/cl and m/rn read alike in any case",
        (),
        _recompute_skeletons,
    ),
    Migration(
        10,
        "guests by age and node, nodes' leases (guests): the sweep of left-over guests reads "
        "no account, and keeps those of a node alive",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.guests (bucket int, created_at bigint, key text, "
            "node text, PRIMARY KEY (bucket, created_at, key)) WITH gc_grace_seconds = 3600",
            "CREATE TABLE IF NOT EXISTS {ks}.nodes (bucket int, node text, seen_at bigint, "
            "PRIMARY KEY (bucket, node))",
        ),
        _fill_guests,
    ),
    Migration(
        11,
        "ban exceptions: masks a room's ban masks do not bar",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.room_exception_masks (room_key text, kind text, "
            "mask text, set_by text, set_at bigint, PRIMARY KEY (room_key, kind, mask))",
        ),
    ),
    Migration(
        12,
        "skeleton claims (cassandra): of look-alikes created at once on two nodes, one",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.skeleton_claims (kind text, skeleton text, "
            "key text, pending boolean, PRIMARY KEY ((kind, skeleton)))",
        ),
    ),
    Migration(
        13,
        "who sent an invitation (SQL 0012): the bound on a user's invitations and ignores",
        (
            "ALTER TABLE {ks}.room_users ADD IF NOT EXISTS invited_by text",
            "ALTER TABLE {ks}.user_rooms ADD IF NOT EXISTS invited_by text",
        ),
    ),
    Migration(
        14,
        "when a member last went into a room to talk in it (SQL 0013): where a user lands",
        ("ALTER TABLE {ks}.user_rooms ADD IF NOT EXISTS entered_at bigint",),
    ),
    Migration(
        15,
        "a private room joined by the server-admin right alone (SQL 0014): left at demotion",
        ("ALTER TABLE {ks}.user_rooms ADD IF NOT EXISTS by_right boolean",),
    ),
    Migration(
        16,
        "how far each node has applied the store's feed (SQL 0015): what the CLI waits for",
        (
            "CREATE TABLE IF NOT EXISTS {ks}.feed_marks (bucket int, node text, applied bigint, "
            "seen_at bigint, PRIMARY KEY (bucket, node))",
        ),
    ),
    Migration(
        17,
        "each room's generation in room_users (cassandra): an act for a deleted room does not "
        "apply to the room made again under its name",
        ("ALTER TABLE {ks}.room_users ADD IF NOT EXISTS room_created bigint static",),
    ),
    Migration(
        18,
        "by_right in room_users too (cassandra): a removal by right or an admission is a "
        "lightweight transaction on it",
        ("ALTER TABLE {ks}.room_users ADD IF NOT EXISTS by_right boolean",),
        _fill_by_right,
    ),
)

HEAD = MIGRATIONS[-1].version
# Kept across test clean-ups: they describe the schema, not the chat.
SCHEMA_TABLES = ("schema_version", "schema_lock")
LOCK_TTL_S = 120  # a migrating process that died frees the lock after this
LOCK_WAIT_S = 180.0


async def ensure_keyspace(cql: Cql, keyspace: str) -> None:
    """Create the keyspace if it is missing: NetworkTopologyStrategy in the contact node's
    data centre, replicated to as many nodes as it has, up to three. Operators wanting
    another layout create the keyspace themselves first; torbit never alters it."""
    if await cql.one(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?", keyspace
    ):
        return
    local = await cql.one("SELECT data_center FROM system.local")
    dc = str((local or {}).get("data_center") or "datacenter1")
    peers = await cql.rows("SELECT data_center FROM system.peers")
    nodes = 1 + sum(1 for p in peers if p.get("data_center") == dc)
    replicas = min(3, nodes)
    await cql.ddl(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', '{dc}': {replicas}}}"
    )


async def current_version(cql: Cql, keyspace: str) -> int | None:
    """The newest migration applied; None if the keyspace was never migrated."""
    if not await cql.one(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? "
        "AND table_name = 'schema_version'",
        keyspace,
    ):
        return None
    try:
        rows = await cql.rows(f"SELECT version FROM {keyspace}.schema_version")
    except Exception as e:
        # just created by another process: listed in system_schema, not yet usable here
        if is_missing_table(e):
            return None
        raise
    return max((int(r["version"]) for r in rows), default=None)


async def upgrade(cql: Cql, keyspace: str) -> int:
    """Bring the keyspace to HEAD; the version it is at. Processes starting together take
    turns through a lock row (IF NOT EXISTS, with a TTL): concurrent schema changes of one
    table from several coordinators can leave Cassandra with two versions of it."""
    await ensure_keyspace(cql, keyspace)
    if await current_version(cql, keyspace) == HEAD:
        return HEAD
    ks = keyspace
    await cql.ddl(
        f"CREATE TABLE IF NOT EXISTS {ks}.schema_version (version int PRIMARY KEY, "
        f"description text, applied_at timestamp)"
    )
    await cql.ddl(
        f"CREATE TABLE IF NOT EXISTS {ks}.schema_lock (name text PRIMARY KEY, owner text)"
    )
    owner = secrets.token_hex(8)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        taken, _ = await cql.lwt(
            f"INSERT INTO {ks}.schema_lock (name, owner) VALUES "
            f"('migrate', ?) IF NOT EXISTS USING TTL {LOCK_TTL_S}",
            owner,
        )
        if taken:
            break
        if await current_version(cql, keyspace) == HEAD:  # the holder finished the work
            return HEAD
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                "storage unavailable: another process has been migrating the schema for too long"
            )
        await asyncio.sleep(0.2)
    try:
        done = await current_version(cql, keyspace) or 0
        for migration in MIGRATIONS:
            if migration.version <= done:
                continue
            for statement in migration.statements:
                await cql.ddl(statement.format(ks=ks))
            if migration.backfill is not None:
                await migration.backfill(cql, ks)
            await cql.run(
                f"INSERT INTO {ks}.schema_version (version, description, applied_at) "
                f"VALUES (?, ?, toTimestamp(now()))",
                migration.version,
                migration.description,
            )
    finally:
        await cql.lwt(f"DELETE FROM {ks}.schema_lock WHERE name = 'migrate' IF owner = ?", owner)
    return HEAD
