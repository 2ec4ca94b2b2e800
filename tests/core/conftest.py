"""The core services built directly, without any front door or socket: a temporary SQLite
store and the SQL message log (both real), sessions that record what they are given. The
way h11 tests its state machine without sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers.sqlite_template import migrated_sqlite
from torbit.backends.message_log.sql import SqlLog
from torbit.backends.store.sql import SqlStore
from torbit.core.accounts import Accounts
from torbit.core.delivery import Delivery
from torbit.core.events import NodeEvents
from torbit.core.ignores import Ignores
from torbit.core.joinchecks import RoomRules
from torbit.core.limits import ActionLimits
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.models import User
from torbit.core.moderation import Moderation
from torbit.core.mutes import Mutes
from torbit.core.presence import PresenceTable
from torbit.core.sessions import Proof, Sessions
from torbit.core.subscriptions import Subscriptions


class Recorder:
    """A session: what the core delivered to it, in order."""

    def __init__(self, name: str) -> None:
        self.user_key = name.lower()
        self.ignores: AbstractSet[str] = frozenset()
        self.lines: list[str] = []  # "<sender> text" for messages, "* text" for notices
        self.closed: str | None = None

    def deliver(self, delivery: Delivery) -> None:
        m = delivery.message
        self.lines.append(f"<{m.sender}> {m.text}")

    def notify(self, text: str, channel: str | None = None, about: tuple[str, ...] = ()) -> None:
        self.lines.append(f"* {text}")

    def close(self, reason: str) -> None:
        self.closed = reason

    def revoke(self, reason: str) -> None:
        self.lines.append(f"! {reason}")
        self.closed = reason

    def texts(self) -> list[str]:
        return [line for line in self.lines if line.startswith("<")]


@dataclass
class Core:
    store: SqlStore
    log: SqlLog
    subscriptions: Subscriptions
    sessions: Sessions
    membership: Membership
    messaging: Messaging
    ignores: Ignores
    moderation: Moderation
    events: NodeEvents
    mutes: Mutes

    async def user(self, name: str, *, admin: bool = False) -> None:
        await self.store.create_user(User(name, "x", datetime.now(UTC), is_admin=admin))

    async def login(self, name: str, room: str | None = "lobby") -> Recorder:
        session = Recorder(name)
        user = await self.store.get_user(name.lower())
        assert user is not None
        await self.sessions.login(session, name, Proof(user.credential))
        if room is not None:
            await self.membership.join(session, room)
        return session


@pytest.fixture
def room_rules() -> RoomRules:
    """Override in a test module to try other rules."""
    return RoomRules(history_on_join=5)


@pytest.fixture
def action_limits() -> ActionLimits:
    """No limits; override in a test module to try some."""
    return ActionLimits()


@pytest.fixture
def cluster() -> PresenceTable | None:
    """No other nodes; override in a test module with a presence table to have some."""
    return None


@pytest.fixture
def retention() -> timedelta | None:
    """None: messages are shown as long as the log holds them; override in a test module."""
    return None


@pytest.fixture
def core_clock() -> Callable[[], datetime]:
    """Membership's and Messaging's clock (a room's creation, a message's time, the
    retention's floor); override in a test module to move it."""
    return lambda: datetime.now(UTC)


@pytest.fixture
def invites_per_user() -> int:
    """limits.invites_per_user's default; override in a test module to bound it tighter."""
    return 100


@pytest.fixture
async def core(
    tmp_path: Path,
    room_rules: RoomRules,
    action_limits: ActionLimits,
    cluster: PresenceTable | None,
    invites_per_user: int,
    retention: timedelta | None,
    core_clock: Callable[[], datetime],
) -> AsyncIterator[Core]:
    migrated_sqlite(tmp_path / "core.db")
    store = SqlStore(f"sqlite:///{tmp_path}/core.db")
    await store.open()
    log = SqlLog(store)
    events = NodeEvents(log)
    subscriptions = Subscriptions(log, UTC, on_event=events.receive, cluster=cluster)
    limits = action_limits
    sessions = Sessions(store, subscriptions, presence_notices_max=100, presence=limits.presence)
    membership = Membership(
        store,
        log,
        subscriptions,
        sessions,
        room_rules,
        limits,
        events=events,
        retention=retention,
        now=core_clock,
    )
    ignores = Ignores(store, subscriptions, events, limits.ignores, rights=membership.rights)
    mutes = Mutes()
    messaging = Messaging(store, log, membership, ignores, mutes, now=core_clock)
    moderation = Moderation(
        store,
        membership,
        subscriptions,
        events,
        mutes,
        ignored=ignores.of,
        invites_per_user=invites_per_user,
    )
    await moderation.start()
    await log.start(subscriptions.route, subscriptions.route_all)
    await events.start()
    Accounts  # noqa: B018 (accounts are tested through the doors and test_accounts)
    yield Core(
        store,
        log,
        subscriptions,
        sessions,
        membership,
        messaging,
        ignores,
        moderation,
        events,
        mutes,
    )
    await subscriptions.close()
    await log.close()
    await store.close()
