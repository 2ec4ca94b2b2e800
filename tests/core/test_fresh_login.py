"""A registration's login takes the account as inserted (`Sessions.login(fresh=)`) instead
of reading it again; what was applied on this node since the counts were taken (a
revocation, an ignore change) still has the login read the store, as after its own read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.core.conftest import Core, Recorder
from torbit.core.delivery import NO_IGNORES
from torbit.core.events import SessionsRevoked
from torbit.core.models import User
from torbit.core.sessions import Fresh, Proof
from torbit.errors import AuthenticationFailed


async def registered(core: Core, name: str) -> tuple[User, tuple[int, int]]:
    counts = core.sessions.counts()
    user = await core.store.create_user(User(name, "x", datetime.now(UTC)), unlike=True)
    return user, counts


async def test_a_fresh_login_reads_nothing(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    user, counts = await registered(core, "alice")
    reads: list[str] = []
    for method in ("user_and_ignores", "get_user", "list_ignores"):
        real = getattr(core.store, method)

        async def counted(*args: object, _real: object = real, _name: str = method) -> object:
            reads.append(_name)
            return await _real(*args)  # type: ignore[operator]

        monkeypatch.setattr(core.store, method, counted)
    session = Recorder("alice")
    fresh = Fresh(user, NO_IGNORES, counts)
    await core.sessions.login(session, "alice", Proof(user.credential), fresh=fresh)
    assert reads == []
    assert core.sessions.name_of(session) == "alice"


async def test_a_revocation_applied_since_the_counts_is_read_and_refuses(core: Core) -> None:
    user, counts = await registered(core, "alice")
    core.sessions.revoke(SessionsRevoked("alice", "changed", user.credential))  # none open yet
    await core.store.set_password_hash("alice", "y", credential="new")  # what it committed
    with pytest.raises(AuthenticationFailed):
        await core.sessions.login(
            Recorder("alice"),
            "alice",
            Proof(user.credential),
            fresh=Fresh(user, NO_IGNORES, counts),
        )


async def test_an_ignore_change_applied_since_the_counts_is_read(core: Core) -> None:
    await core.user("bob")
    user, counts = await registered(core, "alice")
    await core.ignores.ignore("alice", "bob")  # applied here: the count moves
    session = Recorder("alice")
    fresh = Fresh(user, NO_IGNORES, counts)
    await core.sessions.login(session, "alice", Proof(user.credential), fresh=fresh)
    assert session.ignores == frozenset({"bob"})
