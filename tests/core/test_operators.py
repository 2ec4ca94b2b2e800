"""Operators through the core alone: OPER is a login of a server admin's account (throttled
like any), KILL closes every session of a user through the revocation event, WALLOPS reaches
the handlers of every door, and the status goes when the account's password changes, the
account is deleted or its admin flag is taken away, while the session stays open."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher

from tests.core.conftest import Core, Recorder
from torbit.core.accounts import Accounts
from torbit.core.events import Wallops
from torbit.core.hashing import PasswordHashing
from torbit.core.operators import Operators
from torbit.core.revocation import Revocations
from torbit.core.throttle import LoginThrottle
from torbit.errors import AuthenticationFailed, Forbidden, NotFound, RateLimited

PW = "admin-pw"


@dataclass
class Kit:
    core: Core
    accounts: Accounts
    operators: Operators
    lost: dict[str, list[str]]

    async def oper(self, session: Recorder, name: str = "root1", password: str = PW) -> None:
        lost = self.lost.setdefault(session.user_key, [])
        await self.operators.oper(session, name, password, "10.0.0.9", lost.append)


@pytest.fixture
async def kit(core: Core) -> Kit:
    revocations = Revocations(core.store, core.sessions, core.events, core.mutes)
    await revocations.start()
    accounts = Accounts(
        core.store,
        registration_open=True,
        min_password_length=6,
        hashing=PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
        throttle=LoginThrottle(3),
        log=core.log,
        revoke=revocations.revoke,
        deletion_grace=0,
    )
    await accounts.register("root1", PW, by_admin=True)
    await accounts.set_admin("root1", True)
    await accounts.register("plain", PW)
    for name in ("ivy", "tom"):
        await core.user(name)
    return Kit(core, accounts, Operators(core.store, accounts, core.events), {})


async def test_oper_needs_a_server_admins_password(kit: Kit) -> None:
    ivy = await kit.core.login("ivy")
    with pytest.raises(AuthenticationFailed):
        await kit.oper(ivy, password="wrong-pw")
    with pytest.raises(AuthenticationFailed):
        await kit.oper(ivy, name="nobody")
    with pytest.raises(Forbidden, match="plain is not a server admin"):
        await kit.oper(ivy, name="plain")
    assert kit.operators.of(ivy) is None and kit.operators.count() == 0
    await kit.oper(ivy)
    op = kit.operators.of(ivy)
    assert op is not None and op.account == "root1"
    assert kit.operators.count() == 1
    entry = (await kit.core.store.list_audit())[0]
    assert (entry.actor, entry.action, entry.target) == ("root1", "oper", "ivy")


async def test_wrong_passwords_are_throttled_like_any_login(kit: Kit) -> None:
    ivy = await kit.core.login("ivy")
    for _ in range(4):  # three free failures, then the back-off starts
        with pytest.raises(AuthenticationFailed):
            await kit.oper(ivy, password="guess-pw")
    with pytest.raises(RateLimited):  # even the right one now waits out the back-off
        await kit.oper(ivy)
    assert kit.operators.of(ivy) is None


async def test_kill_closes_every_session_of_the_user_in_the_admins_name(kit: Kit) -> None:
    ivy = await kit.core.login("ivy")
    tom1 = await kit.core.login("tom")
    tom2 = await kit.core.login("tom", room="elsewhere")
    with pytest.raises(Forbidden):  # not an operator
        await kit.operators.kill(ivy, "tom", "spam")
    assert tom1.closed is None
    await kit.oper(ivy)
    with pytest.raises(NotFound):
        await kit.operators.kill(ivy, "nobody", "")
    assert await kit.operators.kill(ivy, "TOM", "spam") == "tom"
    assert tom1.closed == tom2.closed == "killed by root1 (spam): you are logged out"
    assert "* tom left #lobby" in ivy.lines
    assert kit.core.subscriptions.presence("tom") is None
    entry = (await kit.core.store.list_audit())[0]
    assert (entry.actor, entry.action, entry.target, entry.detail) == (
        "root1",
        "kill",
        "tom",
        "spam",
    )


async def test_wallops_reach_the_doors_handlers(kit: Kit) -> None:
    ivy = await kit.core.login("ivy")
    seen: list[Wallops] = []
    kit.operators.on_wallops(seen.append)
    with pytest.raises(Forbidden):
        await kit.operators.wallops(ivy, "ivy", "hello")
    await kit.oper(ivy)
    await kit.operators.wallops(ivy, "ivy", "hello\x07 opers")
    assert len(seen) == 1 and (seen[0].sender, seen[0].account) == ("ivy", "root1")
    assert seen[0].text.startswith("hello") and "\x07" not in seen[0].text  # cleaned


async def test_revoking_the_admin_flag_ends_the_status_of_an_open_session(kit: Kit) -> None:
    ivy = await kit.core.login("ivy")
    await kit.oper(ivy)
    await kit.accounts.set_admin("root1", False)  # `torbit user set-admin --revoke`: a revocation
    assert kit.operators.of(ivy) is None
    why = "you are no longer a server admin"
    assert kit.lost["ivy"] == [f"the login of root1 was revoked ({why})"]
    assert ivy.closed is None  # the session itself stays: it is ivy's, not root1's

    # the flag changed in the store by other means: no event reaches the node
    tom = await kit.core.login("tom")
    await kit.accounts.set_admin("root1", True)
    await kit.oper(tom)
    assert await kit.core.store.set_admin("root1", False)
    assert kit.operators.of(tom) is not None  # not seen yet
    with pytest.raises(Forbidden, match="no longer a server admin"):
        await kit.operators.kill(tom, "ivy", "")  # every action reads the account again
    assert kit.operators.of(tom) is None
    assert kit.lost["tom"] == ["root1 is no longer a server admin"]

    await kit.accounts.set_admin("root1", True)
    await kit.oper(ivy)
    assert await kit.core.store.set_admin("root1", False)
    assert await kit.operators.recheck() == 1  # what `run` does every few seconds
    assert kit.operators.of(ivy) is None and len(kit.lost["ivy"]) == 2


async def test_a_password_change_or_deletion_ends_the_status_at_once(kit: Kit) -> None:
    ivy = await kit.core.login("ivy")
    tom = await kit.core.login("tom")
    await kit.oper(ivy)
    await kit.oper(tom)
    await kit.accounts.set_password("root1", "new-admin-pw")  # a revocation on every node
    assert kit.operators.count() == 0
    assert "revoked" in kit.lost["ivy"][0] and kit.lost["tom"]
    assert ivy.closed is None and tom.closed is None
    with pytest.raises(AuthenticationFailed):
        await kit.oper(ivy)  # the old password is gone
    await kit.oper(ivy, password="new-admin-pw")
    await kit.accounts.delete("root1")
    assert kit.operators.of(ivy) is None


async def test_giving_the_status_up_or_leaving(kit: Kit) -> None:
    ivy = await kit.core.login("ivy")
    await kit.oper(ivy)
    assert kit.operators.drop(ivy) is True
    assert kit.operators.drop(ivy) is False
    with pytest.raises(Forbidden):
        await kit.operators.wallops(ivy, "ivy", "hi")
    assert kit.lost.get("ivy") == []  # giving it up is not losing it
