"""A password's new hash is written only over the hash read before it was computed
(`set_password_hash(expected=)`), on SQLite, PostgreSQL and Cassandra (a lightweight
transaction). argon2 takes tens of milliseconds, so a second change, a deletion or a login's
rehash easily lands meanwhile: the later write used to overwrite it, bringing back a password
just replaced, or giving an account being deleted a usable password again."""

from __future__ import annotations

import asyncio

import pytest
from argon2 import PasswordHasher

from tests.contract.conftest import NOW, STORE_BACKENDS
from torbit.core.accounts import UNUSABLE_HASH, Accounts
from torbit.core.hashing import PasswordHashing
from torbit.core.models import Revocation, User
from torbit.core.ports import Store
from torbit.errors import AuthenticationFailed, Conflict, NotFound

BACKENDS_UNDER_TEST = STORE_BACKENDS
HANG_GUARD_S = 60.0


def cheap() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class HeldHashing(PasswordHashing):
    """Real argon2 hashing whose result for one password is held back until `release`: the
    window in which another change can land, made as wide as the test needs."""

    def __init__(self, held: str) -> None:
        super().__init__(cheap(), workers=2, queue=8)
        self.held = held
        self.computed = asyncio.Event()
        self.released = asyncio.Event()

    async def hash(self, password: str, *, low_priority: bool = False) -> str:
        result = await super().hash(password, low_priority=low_priority)
        if password == self.held:
            self.computed.set()
            await self.released.wait()
        return result


def accounts_on(store: Store, hashing: PasswordHashing, **kwargs: object) -> Accounts:
    return Accounts(
        store,
        registration_open=True,
        min_password_length=1,
        hashing=hashing,
        deletion_grace=0,
        **kwargs,  # type: ignore[arg-type]
    )


async def alice(store: Store, password: str, hasher: PasswordHasher | None = None) -> User:
    made = (hasher or cheap()).hash(password)
    return await store.create_user(User("alice", made, NOW, credential="c0"))


async def test_the_stored_hash_is_replaced_only_while_it_is_the_one_expected(
    store: Store,
) -> None:
    await store.create_user(User("alice", "h1", NOW, credential="c1"))
    assert not await store.set_password_hash("alice", "h2", credential="c2", expected="h0")
    user = await store.get_user("alice")
    assert user is not None and (user.password_hash, user.credential) == ("h1", "c1")
    assert await store.set_password_hash("alice", "h2", credential="c2", expected="h1")
    assert not await store.set_password_hash("alice", "h3", credential="c3", expected="h1")
    assert not await store.set_password_hash("ghost", "h", expected="h1")
    user = await store.get_user("alice")
    assert user is not None and (user.password_hash, user.credential) == ("h2", "c2")


async def test_of_two_changes_in_parallel_the_later_write_loses(store: Store) -> None:
    await alice(store, "pw-0")
    hashing = HeldHashing(held="pw-a")
    accounts = accounts_on(store, hashing)
    first = asyncio.create_task(accounts.set_password("alice", "pw-a"))
    await asyncio.wait_for(hashing.computed.wait(), HANG_GUARD_S)  # read, hash computed
    await accounts.set_password("alice", "pw-b")
    hashing.released.set()
    with pytest.raises(Conflict, match="changed meanwhile"):
        await asyncio.wait_for(first, HANG_GUARD_S)
    assert (await accounts.authenticate("alice", "pw-b")).key == "alice"
    with pytest.raises(AuthenticationFailed):
        await accounts.authenticate("alice", "pw-a")


async def test_a_change_during_a_deletion_does_not_revive_the_account(store: Store) -> None:
    """The change read the account before the deletion made it unusable; its write comes
    once the deletion's revocation is out. The deletion is stopped there (as a node dying
    before DELETION_GRACE is over would): the account must still be unusable."""
    await alice(store, "pw-0")
    hashing = HeldHashing(held="pw-new")
    outcome: list[BaseException | None] = []

    class Stopped(Exception):
        pass

    async def revoke(revocation: Revocation) -> None:
        if revocation.deleted:
            hashing.released.set()
            try:
                await asyncio.wait_for(change, HANG_GUARD_S)
                outcome.append(None)
            except (Conflict, NotFound) as e:
                outcome.append(e)
            raise Stopped

    accounts = accounts_on(store, hashing, revoke=revoke, log=object())
    change = asyncio.create_task(accounts.set_password("alice", "pw-new"))
    await asyncio.wait_for(hashing.computed.wait(), HANG_GUARD_S)
    with pytest.raises(Stopped):
        await accounts.delete("alice")
    assert len(outcome) == 1 and isinstance(outcome[0], NotFound)
    user = await store.get_user("alice")
    assert user is not None and user.password_hash == UNUSABLE_HASH
    with pytest.raises(AuthenticationFailed):
        await accounts.authenticate("alice", "pw-new")
    with pytest.raises(NotFound, match="being deleted"):
        await accounts.set_password("alice", "pw-later")


async def test_a_rehash_at_login_does_not_undo_a_change_made_meanwhile(store: Store) -> None:
    """A login whose stored hash has other cost parameters hashes the password again; a
    change made while it does so keeps its new password."""
    older = PasswordHasher(time_cost=2, memory_cost=8, parallelism=1)
    await alice(store, "pw-old", older)
    hashing = HeldHashing(held="pw-old")
    accounts = accounts_on(store, hashing)
    login = asyncio.create_task(accounts.authenticate("alice", "pw-old"))
    await asyncio.wait_for(hashing.computed.wait(), HANG_GUARD_S)  # the rehash
    await accounts.set_password("alice", "pw-new")
    hashing.released.set()
    await asyncio.wait_for(login, HANG_GUARD_S)  # logged in with what was right then
    assert (await accounts.authenticate("alice", "pw-new")).key == "alice"
    with pytest.raises(AuthenticationFailed):
        await accounts.authenticate("alice", "pw-old")
