"""One node's core services, built from the settings: the password hashing, limits,
presence table and retention the config asks for, and the services wired to each other and
started in order. app.py opens the engines and the doors around them; the CLI uses the same
pieces for its offline work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from torbit.backends.registry import open_log
from torbit.config import Settings
from torbit.core.accounts import Accounts
from torbit.core.argon2id import Argon2id
from torbit.core.away import Away
from torbit.core.comeback import Comeback
from torbit.core.events import Expelled, NodeEvents, Parted
from torbit.core.guests import Guests
from torbit.core.hashing import PasswordHashing
from torbit.core.heartbeat import Heartbeat
from torbit.core.identity import NamePolicy
from torbit.core.ignores import Ignores
from torbit.core.joinchecks import RoomRules
from torbit.core.limits import ActionLimits, ByteBudget, RateLimiter, ReadBudget, RoomRates
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.moderation import Moderation
from torbit.core.mutes import Mutes
from torbit.core.names import name_key
from torbit.core.operators import Operators
from torbit.core.ports import MessageLog, Store
from torbit.core.presence import Change, PresenceTable
from torbit.core.renames import Renames
from torbit.core.retention import Retention
from torbit.core.revocation import Revocations
from torbit.core.roomdeletion import RoomDeletion
from torbit.core.sessions import Sessions
from torbit.core.storeclock import StoreClock
from torbit.core.subscriptions import Subscriptions, TranscriptRun
from torbit.core.throttle import LoginThrottle
from torbit.errors import ConfigError
from torbit.metrics import Metrics

Closer = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Core:
    """Every service built for this node, for the CLI and tests: each door is given only the
    services it uses, never this."""

    store: Store
    message_log: MessageLog
    subscriptions: Subscriptions
    sessions: Sessions
    accounts: Accounts
    membership: Membership
    messaging: Messaging
    ignores: Ignores
    moderation: Moderation
    room_deletion: RoomDeletion
    mutes: Mutes
    retention: Retention
    revocations: Revocations
    guests: Guests
    operators: Operators
    away: Away
    comeback: Comeback
    heartbeat: Heartbeat | None  # None on a single node (the local log): no other nodes
    clock: StoreClock  # the store's time as this node tells it (core/storeclock.py)

    async def end_tasks(self) -> None:
        """At a stop, once the message log is closed (no event starts any more of them) and
        before the store is: the tasks the services started of their own, cancelled and
        awaited (core/tasks.py)."""
        await self.membership.close()
        await self.moderation.close()
        await self.sessions.close()
        await self.accounts.close()


def timezone_of(settings: Settings) -> tzinfo:
    try:
        return ZoneInfo(settings.chat.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"config key chat.timezone: unknown time zone {settings.chat.timezone!r}"
        ) from None


def profanity_filter(settings: Settings) -> Callable[[str], str] | None:
    if settings.moderation.profanity == "off":
        return None
    from torbit.filters import ProfanityFilter

    return ProfanityFilter(
        settings.moderation.profanity, settings.moderation.extra_words_file
    ).apply


def password_hashing(
    settings: Settings, workers: int | None = None, queue: int | None = None
) -> PasswordHashing:
    """The configured argon2id; the CLI hashes one password at a time (workers=1, queue=1),
    through libsodium where "auto" is configured: measuring both libraries would cost it
    more than the one hash it makes."""
    a = settings.accounts
    engine = "libsodium" if a.argon2_engine == "auto" and workers == 1 else a.argon2_engine
    hasher = Argon2id(a.argon2_time_cost, a.argon2_memory_kib, a.argon2_parallelism, engine)
    return PasswordHashing(hasher, workers=workers or a.hash_workers, queue=queue or a.hash_queue)


def presence_table(settings: Settings, node: str) -> PresenceTable | None:
    """The cluster's presence table where nodes share the log; none for a single node."""
    m = settings.message_log
    if m.url == "local":
        return None
    return PresenceTable(node, expiry=m.presence_expiry_seconds)


def _presence_changed(subscriptions: Subscriptions, sessions: Sessions, change: Change) -> None:
    """Another node's heartbeat changed who is online: the rooms here are told, and so is
    whoever watches the user (MONITOR)."""
    sessions.announce_elsewhere(change)
    subscriptions.presence_changed(change.user)


async def _reclaim_guests(
    guests: Guests,
    cluster: PresenceTable,
    connected: Callable[[], bool],
    store_time: Callable[[], datetime],
) -> None:
    """Delete the guests a dead node left: online on no node, older than the expiry, their
    node's lease lapsed. Guests of a node alive but unheard (cut off from the log) are kept,
    and looked at again every expiry until it is heard again or its lease lapses, while this
    node hears the cluster (`connected`: one cut off itself owes a reclaim once it does).
    Ages and leases go by the store's time (`store_time`), as the guests and leases are
    dated: a node's wall clock stepped a day forward took every lease for lapsed (floor59)."""
    while True:
        before = store_time() - timedelta(seconds=cluster.expiry)
        swept = await guests.sweep_stale(lambda key: cluster.user(key) is not None, before)
        if not swept.kept:
            return
        await asyncio.sleep(cluster.expiry)
        if not connected():
            return


def per_hour(count: int) -> RateLimiter:
    """A token bucket of `count` a hour, all of which may be taken at once; 0 disables it."""
    return RateLimiter(count / 3600.0, count)


def account_names(settings: Settings) -> NamePolicy:
    """The rules for new account names: the reserved names and the IRC server's name, as for
    guests. An account named as the server (`irc.example.org`) wrote to IRC users as
    `:irc.example.org!irc.example.org@torbit PRIVMSG bob :...`, a query named as the server."""
    return NamePolicy([*settings.accounts.reserved_names, settings.irc.server_name])


def action_limits(settings: Settings) -> ActionLimits:
    lim = settings.limits
    return ActionLimits(
        joins=RateLimiter(lim.join_rate, lim.join_burst),
        presence=RateLimiter(lim.presence_rate, lim.presence_burst),
        invites=RateLimiter(lim.invite_rate, lim.invite_burst),
        ignores=RateLimiter(lim.ignore_rate, lim.ignore_burst),
        topics=RateLimiter(lim.topic_rate, lim.topic_burst),
        creates=RateLimiter(lim.create_rate, lim.create_burst),
        aways=RateLimiter(lim.away_rate, lim.away_burst),
        moderation=RateLimiter(lim.moderation_rate, lim.moderation_burst),
        walks=RateLimiter(lim.walk_rate, lim.walk_burst),
    )


def input_budgets(settings: Settings) -> tuple[ByteBudget, ByteBudget]:
    """The line doors' input byte budgets per connection: logged in, and before login."""
    lim = settings.limits
    return (
        ByteBudget(lim.input_rate, lim.input_burst),
        ByteBudget(lim.login_input_rate, lim.login_input_burst, cut=True),
    )


def retention_of(
    settings: Settings, store: Store, message_log: MessageLog, store_time: Callable[[], datetime]
) -> Retention:
    """`store_time`: the store's time as this node tells it, which everything expires by."""
    chat, moderation = settings.chat, settings.moderation
    return Retention(
        store,
        message_log,
        timedelta(hours=chat.retention_hours),
        audit_keep=timedelta(days=moderation.audit_retention_days)
        if moderation.audit_retention_days
        else None,
        empty_room_grace=timedelta(hours=chat.empty_room_grace_hours)
        if chat.empty_room_grace_hours
        else None,
        keep_rooms=frozenset({name_key(chat.default_room)}),
        now=store_time,
    )


def message_log_of(s: Settings, store: Store) -> MessageLog:
    """The configured message log, not started yet."""
    return open_log(
        s.message_log.url,
        store,
        topic_prefix=s.message_log.topic_prefix,
        replication_factor=s.message_log.replication_factor,
        retention_hours=s.chat.retention_hours,
        fetch_wait_ms=s.message_log.fetch_wait_ms,
        inbox_partitions=s.message_log.inbox_partitions,
    )


async def start_core(
    s: Settings,
    store: Store,
    message_log: MessageLog,
    metrics: Metrics,
    transcript: Callable[[list[TranscriptRun]], None],
    opened: list[Closer],
) -> Core:
    """Build the services around an open store and a message log, then start them (the log
    routing to the subscriptions); what needs closing again is appended to `opened`."""
    tz = timezone_of(s)
    latency = metrics.delivery_latency
    # the store's time as this node tells it: what mutes end, tokens expire, housekeeping
    # purges and reads hide by, and what every row written here is dated by (rowclock60:
    # a node whose wall clock ran a day behind wrote messages the next purge deleted)
    clock = StoreClock()
    events = NodeEvents(message_log, now=clock.now)
    cluster = presence_table(s, events.origin)
    if cluster is not None:  # a right taken away is answered once they all applied it
        events.peers = cluster.nodes
    subscriptions = Subscriptions(
        message_log,
        tz,
        on_event=events.receive,
        transcript=transcript,
        on_delivered=latency.observe_many,
        cluster=cluster,
        now=clock.now,
    )
    metrics.count_deliveries(lambda: subscriptions.delivered)
    limits = action_limits(s)
    mutes = Mutes(clock)
    sessions = Sessions(
        store,
        subscriptions,
        s.chat.presence_notices_max,
        limits.presence,
        now=clock.now,
        grace=s.chat.presence_grace_seconds,
    )
    events.on(Expelled, lambda e: sessions.expelled(e.room, e.user))
    events.on(Parted, lambda e: None if e.node == events.origin else sessions.parted(e))
    revocations = Revocations(store, sessions, events, mutes)  # marks: read_clock's time
    accounts = Accounts(
        store,
        registration_open=s.chat.registration == "open",
        min_password_length=s.accounts.min_password_length,
        hashing=password_hashing(s),
        throttle=LoginThrottle(
            s.limits.login_free_attempts,
            address_free=s.limits.login_address_free_attempts,
            account_free=s.limits.login_account_free_attempts,
            cap=s.limits.login_backoff_max,
            forget_after=s.limits.login_forget_after,
        ),
        names=account_names(s),
        register_per_address=per_hour(s.limits.registrations_per_address),
        register_total=per_hour(s.limits.registrations_per_hour),
        change_rate=RateLimiter(s.limits.password_change_rate, s.limits.password_change_burst),
        log=message_log,
        revoke=revocations.revoke,
        tell=lambda event: events.publish(event, settled=True),
        now=clock.now,  # accounts dated by the store's time, as their inboxes are read
    )
    # every read of messages pays from one budget per user: pages, receives, join history
    reads = ReadBudget(RateLimiter(s.limits.read_rate, s.limits.read_burst))
    message_rate = RateLimiter(s.limits.message_rate, s.limits.message_burst)
    membership = Membership(
        store,
        message_log,
        subscriptions,
        sessions,
        RoomRules(s.chat.default_room, s.chat.history_on_join, s.limits.rooms_per_user),
        limits,
        events=events,
        reads=reads,
        # past it no read shows a message, purged or not yet (Membership.floor), by the
        # store's time: not the node's wall clock, which may step (floor59); rooms, bans
        # and kicks are dated by it too (rowclock60)
        retention=timedelta(hours=s.chat.retention_hours),
        now=clock.now,
    )

    async def silenced(room_key: str, user_key: str) -> bool:
        return mutes.silenced(room_key, user_key) or await membership.unvoiced(room_key, user_key)

    sessions.silenced = silenced  # the leave reason of one who may not talk is not shown
    ignores = Ignores(
        store,
        subscriptions,
        events,
        limits.ignores,
        max_entries=s.limits.ignores_per_user,
        reads=reads,
        rights=membership.rights,
    )
    away = Away(subscriptions, events, limits.aways, s.chat.presence_notices_max)
    room_rates = RoomRates(RateLimiter(s.limits.room_message_rate, s.limits.room_message_burst))
    messaging = Messaging(
        store,
        message_log,
        membership,
        ignores,
        mutes,
        max_message_bytes=s.chat.max_message_bytes,
        rate=message_rate,
        room_rate=room_rates,
        reads=reads,
        text_filter=profanity_filter(s),
        now=clock.now,  # a send's `sent_at`: one monotonic read, no store round trip
    )
    moderation = Moderation(
        store,
        membership,
        subscriptions,
        events,
        mutes,
        ignored=ignores.of,
        invites_per_user=s.limits.invites_per_user,
        now=clock.now,  # bans, topics, invitations, ban masks, audit entries
    )
    # where a login comes back to: the newest move by the store's time, not the wall clock
    comeback = Comeback(store, membership, messaging, subscriptions.newest, now=clock.now)
    room_deletion = RoomDeletion(
        store, message_log, membership, subscriptions, events, mutes, now=clock.now
    )
    operators = Operators(
        store,
        accounts,
        events,
        rights=membership.rights,
        acts=membership.role_turns,
        now=clock.now,
    )
    guests = Guests(
        store,
        subscriptions,
        sessions,
        membership,
        mutes,
        reserved=[s.irc.server_name],
        names=accounts.names,
        limits=(reads.limiter, message_rate, room_rates, *limits.all()),
        away=away,
        node=events.origin,
        per_address=RateLimiter(s.limits.guests_per_address / 60.0, s.limits.guests_per_address),
        ignores=ignores,
        # another node's act heard by the store's time, not the wall clock (floor59)
        renames=Renames(store, events, membership.rights, now=clock.now),
        now=clock.now,  # guests and leases dated by the store's time, as the sweep judges
    )
    heartbeat = None
    if cluster is not None:
        heartbeat = beating = Heartbeat(
            cluster,
            events,
            interval=s.message_log.presence_heartbeat_seconds,
            on_change=lambda change: _presence_changed(subscriptions, sessions, change),
            reclaim=lambda: _reclaim_guests(guests, cluster, beating.connected, clock.now),
            lease=guests.lease,
        )
    await message_log.start(subscriptions.route, subscriptions.route_all)
    opened.append(message_log.close)
    await events.start()
    if s.message_log.url == "local":  # one node: any guest left in the store is stale
        # once the log runs: a guest's release tells the nodes its memberships ended (a
        # node killed with a guest online did not start again: "message log unavailable")
        await guests.sweep()
    await revocations.start()
    # the mutes read from the store after the watch of the node events and the feed began:
    # a mute (or a deletion taking some) written before the read is in it, one after is an
    # event or a feed row applied here (attack57: read before, one set between was missed)
    await moderation.start()
    if heartbeat is not None:
        await heartbeat.start()
    return Core(
        store,
        message_log,
        subscriptions,
        sessions,
        accounts,
        membership,
        messaging,
        ignores,
        moderation,
        room_deletion,
        mutes,
        retention_of(s, store, message_log, clock.now),
        revocations,
        guests,
        operators,
        away,
        comeback,
        heartbeat,
        clock,
    )
