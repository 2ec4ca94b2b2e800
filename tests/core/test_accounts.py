"""Accounts through the core services alone: what registration checks before it hashes, the
bounded hashing pool, the throttle reserving attempts, and revocation and deletion reaching
exactly the sessions they should (telnet and WebSocket sessions are stood in for by the
recording sessions of conftest)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from argon2 import PasswordHasher

from tests.core.conftest import Core, Recorder
from torbit.core.accounts import Accounts
from torbit.core.argon2id import Argon2id
from torbit.core.banmasks import EXCEPT, INVEX, Visitor
from torbit.core.hashing import PasswordHashing
from torbit.core.limits import RateLimiter
from torbit.core.models import Revocation, User
from torbit.core.ports import Store
from torbit.core.revocation import Revocations
from torbit.core.sessions import Proof
from torbit.core.throttle import NETWORK_SHARE, LoginThrottle
from torbit.core.tokens import token_hash
from torbit.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Overloaded,
    RateLimited,
)

PW = "secret-pw"


def cheap() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class Kit:
    core: Core
    accounts: Accounts
    revocations: Revocations
    hashing: PasswordHashing

    async def session(self, name: str, *, token: str = "", room: str | None = None) -> Recorder:
        user = await self.core.store.get_user(name.lower())
        assert user is not None
        s = Recorder(name)
        if token:  # a real token in the store: the login checks it
            await self.core.store.create_token(
                token_hash(token), user.key, datetime.now(UTC) + timedelta(hours=1)
            )
        await self.core.sessions.login(
            s, name, Proof(user.credential, token_hash(token) if token else "")
        )
        if room is not None:
            await self.core.membership.join(s, room)
        return s


@pytest.fixture
async def kit(core: Core) -> Kit:
    hashing = PasswordHashing(cheap(), workers=2, queue=8)
    revocations = Revocations(core.store, core.sessions, core.events, core.mutes)
    await revocations.start()
    accounts = Accounts(
        core.store,
        registration_open=True,
        min_password_length=6,
        hashing=hashing,
        throttle=LoginThrottle(3),
        log=core.log,
        revoke=revocations.revoke,
        deletion_grace=0,
    )
    return Kit(core, accounts, revocations, hashing)


async def test_registration_refuses_before_hashing(kit: Kit) -> None:
    a = Accounts(
        kit.core.store,
        registration_open=True,
        min_password_length=6,
        hashing=kit.hashing,
        register_per_address=RateLimiter(2 / 3600, 2),
    )
    await a.register("alice", PW, client="10.0.0.1")
    assert kit.hashing.done == 1
    for name, error, why in [
        ("alice", Conflict, "taken"),
        ("ALICE", Conflict, "taken"),
        ("aIice", Conflict, "reads too much like 'alice'"),
        ("a1ice", Conflict, "reads too much like 'alice'"),
        ("alice.", InvalidInput, "start and end with a letter or a digit"),
        ("_alice", InvalidInput, "start and end with a letter or a digit"),
        ("admin", InvalidInput, "reserved"),
        ("R00T", InvalidInput, "reserved"),
    ]:
        with pytest.raises(error, match=why):
            await a.register(name, PW, client="10.0.0.1")
    with pytest.raises(InvalidInput, match="too short"):
        await a.register("bob", "pw", client="10.0.0.1")
    assert kit.hashing.done == 1  # not one of those was hashed
    await a.register("bob", PW, client="10.0.0.1")
    with pytest.raises(RateLimited, match="registrations from your address"):
        await a.register("carol", PW, client="10.0.0.1")
    assert kit.hashing.done == 2
    await a.register("carol", PW, client="10.0.0.2")  # another address may
    await a.register("admin", PW, by_admin=True)  # reserved names are the admin's to give


async def test_a_name_looked_up_is_not_asked_again_but_still_refused_if_taken_since(
    kit: Kit,
) -> None:
    """The telnet dialogue looks the name up at its prompt and registers after the two
    password prompts: the name is not looked up again before the hash, but one taken in
    between, or one reading like it, is still refused (by the store's insert), and said so."""
    a = kit.accounts
    assert await a.look_up("alice") == (False, None)
    assert await a.look_up("a1ice") == (False, None)
    await a.register("alice", PW)  # while a1ice was typing their password twice
    with pytest.raises(Conflict, match="reads too much like 'alice'"):
        await a.register("a1ice", PW, looked_up=True)
    with pytest.raises(Conflict, match="taken"):
        await a.register("ALICE", PW, looked_up=True)
    with pytest.raises(InvalidInput, match="reserved"):  # the rules are still applied
        await a.register("admin", PW, looked_up=True)
    assert [u.name for u in await a.list()] == ["alice"]
    await a.register("bob", PW, looked_up=True)
    assert (await a.authenticate("bob", PW)).name == "bob"


async def test_the_hashing_pool_refuses_at_once_when_full() -> None:
    slow = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    pool = PasswordHashing(slow, workers=1, queue=3)
    results = await asyncio.gather(
        *(pool.hash(f"pw-{i}") for i in range(10)), return_exceptions=True
    )
    done = [r for r in results if isinstance(r, str)]
    busy = [r for r in results if isinstance(r, Overloaded)]
    assert (len(done), len(busy)) == (4, 6)
    assert pool.jobs == 0 and pool.done == 4
    # registrations get half the slots: logins keep the rest
    results = await asyncio.gather(
        *(pool.hash(f"pw-{i}", low_priority=True) for i in range(10)), return_exceptions=True
    )
    assert sum(isinstance(r, str) for r in results) == 2
    pool.close()


async def test_parallel_wrong_passwords_are_checked_only_up_to_the_allowance(kit: Kit) -> None:
    await kit.accounts.register("alice", PW)
    before = kit.hashing.done
    results = await asyncio.gather(
        *(kit.accounts.authenticate("alice", f"guess-{i}", "10.6.6.6") for i in range(40)),
        return_exceptions=True,
    )
    wrong = [r for r in results if isinstance(r, AuthenticationFailed)]
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert (len(wrong), len(refused)) == (3, 37)
    assert kit.hashing.done - before == 3
    user = await kit.accounts.authenticate("alice", PW, "192.0.2.7")  # the owner, elsewhere
    assert user.name == "alice"


async def test_a_password_change_closes_the_sessions_of_the_old_password(kit: Kit) -> None:
    for name in ("alice", "bob"):
        await kit.accounts.register(name, PW)
    old_telnet = await kit.session("alice", room="lobby")
    old_socket = await kit.session("alice", token="t1")
    bob = await kit.session("bob", room="lobby")
    await kit.accounts.set_password("alice", "new-secret-pw")
    for s in (old_telnet, old_socket):
        assert s.closed == "your password was changed: you are logged out"
        assert not kit.core.subscriptions.channels_of(s)  # detached at once
    assert "* alice left #lobby" in bob.lines
    assert bob.closed is None
    fresh = await kit.session("alice", room="lobby")  # with the new password
    await kit.core.messaging.send("bob", "lobby", "still there?")
    assert fresh.texts()[-1] == "<bob> still there?"
    assert "<bob> still there?" not in old_telnet.texts()
    with pytest.raises(AuthenticationFailed):
        await kit.accounts.authenticate("alice", PW, "10.0.0.1")


async def test_a_logout_closes_only_the_sessions_of_that_token(kit: Kit) -> None:
    await kit.accounts.register("alice", PW)
    one = await kit.session("alice", token="one")
    two = await kit.session("alice", token="two")
    by_password = await kit.session("alice")
    await kit.revocations.revoke(Revocation("alice", "you logged out", token=token_hash("one")))
    assert one.closed is not None
    assert two.closed is None and by_password.closed is None


async def test_revocations_from_the_store_are_found_by_polling(kit: Kit) -> None:
    """How the CLI reaches running nodes: a row in the store, polled for."""
    await kit.accounts.register("alice", PW)
    user = await kit.core.store.get_user("alice")
    assert user is not None
    session = await kit.session("alice")
    cli = Accounts(
        kit.core.store,
        registration_open=True,
        min_password_length=6,
        hashing=PasswordHashing(cheap(), workers=1, queue=1),
    )
    await cli.set_password("alice", "changed-by-cli")  # revokes through the store
    assert session.closed is None
    assert await kit.revocations.poll() == 1
    assert session.closed == "your password was changed: you are logged out"
    assert await kit.revocations.poll() == 0


async def test_a_stale_proof_cannot_log_in(kit: Kit) -> None:
    """A password checked just before a change, attached just after: refused."""
    await kit.accounts.register("alice", PW)
    user = await kit.core.store.get_user("alice")
    assert user is not None
    await kit.accounts.set_password("alice", "new-secret-pw")
    late = Recorder("alice")
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await kit.core.sessions.login(late, "alice", Proof(user.credential))
    assert kit.core.subscriptions.sessions_of("alice") == []
    with pytest.raises(AuthenticationFailed):  # a token that no longer exists, likewise
        fresh = await kit.core.store.get_user("alice")
        assert fresh is not None
        await kit.core.sessions.login(late, "alice", Proof(fresh.credential, token_hash("x")))


async def test_deleting_an_account_leaves_nothing_to_whoever_takes_the_name(kit: Kit) -> None:
    core = kit.core
    for name in ("alice", "bob", "carol"):
        await kit.accounts.register(name, PW)
    alice = await kit.session("alice", room="lobby")
    bob = await kit.session("bob", room="lobby")
    await kit.session("carol")
    await core.moderation.create("alice", "solo")
    await core.moderation.create("alice", "shared")
    await core.membership.become_member("bob", "shared")
    await core.messaging.send("alice", "solo", "only me here")
    await core.messaging.send_private("bob", "alice", "for the old alice")
    await core.ignores.ignore("bob", "alice")
    await core.store.set_admin("carol", True)
    await core.moderation.mute("carol", "lobby", "alice", 60)

    deletion = await kit.accounts.delete("alice")
    assert (deletion.rooms_deleted, deletion.rooms_kept) == (("solo",), ("shared",))
    assert alice.closed == "your account was deleted: you are logged out"
    assert "alice" not in (core.subscriptions.presence("bob") or bob).ignores
    assert await core.log.read("@alice") == []
    assert await core.log.read("solo") == []
    shared = await core.store.get_room("shared")
    assert shared is not None and shared.owner is None

    await kit.accounts.register("Alice", PW)
    assert await core.messaging.private_history("Alice") == []
    newcomer = await kit.session("Alice", room="lobby")
    await core.messaging.send("Alice", "lobby", "hello, I am new")  # not muted
    assert bob.texts()[-1] == "<Alice> hello, I am new"  # not ignored
    await core.messaging.send_private("bob", "Alice", "welcome")
    assert newcomer.texts()[-1] == "<bob> welcome"
    assert "<bob> welcome" not in alice.texts()
    with pytest.raises(Exception, match="no such room"):
        await core.membership.room("solo")


@pytest.mark.parametrize("change", ["deleted here", "password changed on another node"])
async def test_an_attempt_joining_a_check_begun_before_a_change_is_checked_again(
    core: Core, change: str
) -> None:
    """Identical attempts in flight share one check, but one that arrives after the password
    changed (or the account went) must not be let in by a check that read the old hash: it
    is checked again (on main it shared the old check's success). The check is held in the
    hashing pool's queue behind real argon2 jobs, so the change lands while it waits."""
    slow = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    hashing = PasswordHashing(slow, workers=1, queue=8)
    revocations = Revocations(core.store, core.sessions, core.events, core.mutes)
    await revocations.start()

    def accounts_with(pool: PasswordHashing) -> Accounts:
        return Accounts(
            core.store,
            registration_open=True,
            min_password_length=6,
            hashing=pool,
            throttle=LoginThrottle(3),
            log=core.log,
            revoke=revocations.revoke,
            deletion_grace=0,
        )

    accounts = accounts_with(hashing)
    other_node = accounts_with(PasswordHashing(cheap()))  # the same store, its own hashing
    await accounts.register("alice", PW)
    fillers = [asyncio.ensure_future(hashing.hash(f"filler-{i}")) for i in range(6)]
    begun = asyncio.ensure_future(accounts.authenticate("alice", PW, "192.0.2.1"))
    async with asyncio.timeout(30):
        while hashing.jobs < 7:  # its check has read the account and waits for the pool
            await asyncio.sleep(0.005)
    if change == "deleted here":
        await accounts.delete("alice")
    else:
        await other_node.set_password("alice", "new-secret-pw")
    assert not begun.done()  # the check begun before is still in flight: the next joins it
    joined = asyncio.ensure_future(accounts.authenticate("alice", PW, "192.0.2.1"))
    results = await asyncio.gather(begun, joined, *fillers, return_exceptions=True)
    assert isinstance(results[1], AuthenticationFailed), results[1]
    with pytest.raises(AuthenticationFailed):
        await accounts.authenticate("alice", PW, "192.0.2.1")
    hashing.close()


async def test_registrations_from_the_64s_of_one_ipv6_48_are_bounded_together(kit: Kit) -> None:
    """Each /64 had its own `registrations_per_address`: a /48 registered 65,536 times as
    many. A /48 now holds NETWORK_SHARE times the per-address limit, refused before hashing."""
    a = Accounts(
        kit.core.store,
        registration_open=True,
        min_password_length=6,
        hashing=kit.hashing,
        register_per_address=RateLimiter(1 / 3600, 1),
    )
    for i in range(NETWORK_SHARE):
        await a.register(f"user{i}", PW, client=f"2001:db8:7:{i:x}::1")
    done = kit.hashing.done
    with pytest.raises(RateLimited, match="registrations from your address"):
        await a.register("past", PW, client="2001:db8:7:ffff::1")
    assert kit.hashing.done == done
    await a.register("other", PW, client="2001:db8:8::1")  # another /48


async def test_a_deleted_accounts_exceptions_do_not_pass_to_a_newcomer_with_its_name(
    kit: Kit,
) -> None:
    """`/invex alice` (and `/except alice`) named the account alice: once it is deleted,
    someone registering the name must not walk into the private room by it (nor past its
    ban masks). The masks naming exactly the account go with it; wildcard masks and ban
    masks stay; the node's copy of the rooms' masks is dropped, so no stale one lets her in."""
    core = kit.core
    await kit.accounts.register("owner", PW)
    await kit.accounts.register("alice", PW)
    await core.moderation.create("owner", "den", private=True)
    await core.moderation.create("owner", "hall")
    await core.moderation.except_mask("owner", "den", "alice", INVEX)
    await core.moderation.except_mask("owner", "den", "ali*!*@*", EXCEPT)
    await core.moderation.except_mask("owner", "hall", "alice", EXCEPT)
    await core.moderation.ban_mask("owner", "hall", "*!*@192.0.2.*")
    await core.moderation.ban_mask("owner", "hall", "alice!*@203.0.113.*")
    visitor = Visitor("alice", "alice", "192.0.2.7")
    await core.membership.become_member("alice", "den", visitor=visitor)  # the old alice
    await core.membership.become_member("alice", "hall", visitor=visitor)
    await kit.accounts.delete("alice")
    await kit.accounts.register("alice", PW)  # a newcomer, from the same network even
    with pytest.raises(NotFound):
        await core.membership.become_member("alice", "den", visitor=visitor)
    with pytest.raises(Forbidden, match="banned"):
        await core.membership.become_member("alice", "hall", visitor=visitor)
    den = [(m.kind, m.mask) for m in await core.store.list_exception_masks("den")]
    assert den == [(EXCEPT, "ali*!*@*")]
    assert await core.store.list_exception_masks("hall") == []
    bans = [m.mask for m in await core.store.list_ban_masks("hall")]
    assert bans == ["*!*@192.0.2.*", "alice!*@203.0.113.*"]


class HeldAfterRead:
    """The real store, but the first `get_user` after `hold` waits, its row read, until
    `release`: a change made meanwhile lands between the deletion's read of the hash and its
    write over it, where no timing would put it reliably."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.read = asyncio.Event()
        self.release = asyncio.Event()
        self.holding = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def get_user(self, key: str) -> User | None:
        user = await self._store.get_user(key)
        if self.holding:
            self.holding = False
            self.read.set()
            await self.release.wait()
        return user


async def test_a_deletion_outrun_by_a_password_change_reads_again_and_completes(
    kit: Kit,
) -> None:
    """`Accounts.delete` writes the unusable hash only over the hash it read, so that the
    credential it revokes is the one it replaced. A password change on another node that
    lands between its read and its write wins that write; the deletion reads again, revokes
    the new credential too (a session opened with the new password is closed) and deletes
    the account (store level: tests/contract/test_store_password_races.py)."""
    core = kit.core
    await kit.accounts.register("alice", PW)
    old = await kit.session("alice")
    held = HeldAfterRead(core.store)
    deleting_node = Accounts(
        cast(Store, held),
        registration_open=True,
        min_password_length=6,
        hashing=kit.hashing,
        log=core.log,
        revoke=kit.revocations.revoke,
        deletion_grace=0,
    )
    held.holding = True
    deletion = asyncio.ensure_future(deleting_node.delete("alice"))
    async with asyncio.timeout(30):
        await held.read.wait()  # the deletion has read the hash it means to replace
    await kit.accounts.set_password("alice", "changed-meanwhile")  # wins the write
    assert old.closed == "your password was changed: you are logged out"
    new = await kit.session("alice")  # with the new password, before the deletion goes on
    assert not deletion.done()
    held.release.set()
    async with asyncio.timeout(30):
        done = await deletion
    assert done.rooms_deleted == ()
    assert new.closed == "your account was deleted: you are logged out"
    assert await core.store.get_user("alice") is None
    with pytest.raises(AuthenticationFailed):
        await kit.accounts.authenticate("alice", "changed-meanwhile", "192.0.2.1")


async def test_a_registration_refused_as_busy_does_not_spend_the_hours_allowance(
    core: Core,
) -> None:
    """A registration takes its tokens (per address, overall) before the hash: one refused
    because the hashing pool was full ('the server is busy checking passwords: try again in
    a moment') kept them spent, so a newcomer who tried again as told, while a flood of
    logins kept the pool full, used up `registrations_per_address` for the hour without an
    account."""
    hashing = PasswordHashing(cheap(), workers=1, queue=0)
    a = Accounts(
        core.store,
        registration_open=True,
        min_password_length=6,
        hashing=hashing,
        register_per_address=RateLimiter(1 / 3600, 1),
        register_total=RateLimiter(1 / 3600, 1),
    )
    for _ in range(3):
        busy = asyncio.ensure_future(hashing.hash("a login's check"))
        await asyncio.sleep(0)  # its job is counted: the pool is full
        with pytest.raises(Overloaded, match="busy checking passwords"):
            await a.register("alice", PW, client="10.0.0.1", looked_up=True)
        await busy
    user = await a.register("alice", PW, client="10.0.0.1", looked_up=True)
    assert user.name == "alice"
    with pytest.raises(RateLimited, match="registrations from your address"):
        await a.register("bob", PW, client="10.0.0.1", looked_up=True)  # the one was spent
    hashing.close()


async def test_a_hash_of_the_old_default_logs_in_and_is_made_again_in_one_lane(kit: Kit) -> None:
    """Hashes stored before libsodium (argon2-cffi, 4 lanes) still open their account, and
    the login stores the password again in the configured lane, libsodium's (argon2id.py)."""
    await kit.accounts.register("alice", PW)
    old = PasswordHasher(time_cost=1, memory_cost=32, parallelism=4).hash(PW)
    assert await kit.core.store.set_password_hash("alice", old)
    hashing = PasswordHashing(Argon2id(1, 32, 1), workers=1, queue=2)
    accounts = Accounts(
        kit.core.store, registration_open=True, min_password_length=6, hashing=hashing
    )
    try:
        with pytest.raises(AuthenticationFailed):
            await accounts.authenticate("alice", "not-" + PW, "192.0.2.7")
        await accounts.authenticate("alice", PW, "192.0.2.7")
        user = await kit.core.store.get_user("alice")
        assert user is not None and user.password_hash.startswith("$argon2id$v=19$m=32,t=1,p=1$")
        await accounts.authenticate("alice", PW, "192.0.2.7")  # the new hash opens it too
        again = await kit.core.store.get_user("alice")
        assert again is not None and again.password_hash == user.password_hash  # not made again
    finally:
        hashing.close()
