"""Accounts: registration, password checks and changes, deletion. Passwords are kept only as
argon2id hashes, made and checked on a bounded pool of threads (core/hashing.py).

Everything cheap is decided before anything is hashed: a registration's name (syntax, the
rules for new names in core/identity.py, taken or reading like a taken one), its password
rules and its rate limits; a login's throttle (core/throttle.py) reserves the attempt before
the hash is checked; a user's own password change is rate limited and one at a time
(`change_password`). A password change or a deletion revokes the user's tokens and closes
their open sessions on every node (core/revocation.py); taking server admin away closes them
too (`set_admin`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from argon2 import PasswordHasher

from torbit.core.demotion import Tell, leave_rooms_of_the_right, through_the_store
from torbit.core.hashing import PasswordHashing
from torbit.core.identity import NamePolicy, skeleton
from torbit.core.limits import AddressRates, RateLimiter
from torbit.core.models import AccountDeletion, Revocation, User
from torbit.core.names import MAX_NAME_LENGTH, check_name, inbox_channel, is_valid_name, name_key
from torbit.core.ports import MessageLog, Store
from torbit.core.tasks import cancel_and_wait
from torbit.core.throttle import LoginThrottle
from torbit.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Overloaded,
    RateLimited,
    TorbitError,
)

logger = logging.getLogger(__name__)

MAX_PASSWORD_LENGTH = 1024
# What a new password may not hold, for it could not be typed back exactly: control characters
# (C0, DEL, C1: telnet drops them, terminals act on them), U+FFFD (what a door reads for bytes
# that are not UTF-8, so one stands for any of them) and lone surrogates (no bytes to hash)
UNKEPT_IN_PASSWORDS = re.compile(r"[\x00-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")
# The stored hash of an account being deleted: no password verifies against it.
UNUSABLE_HASH = "!deleted"
# How long a deletion waits between closing the user's sessions and freeing the name: two
# looks at the store by every node (core/revocation.py POLL_INTERVAL), so that the old
# account's sessions are closed before anyone can register the name again.
DELETION_GRACE = 1.0
# How often a deletion reads the account again when a password change won the race to it.
DELETION_TRIES = 5

Revoke = Callable[[Revocation], Awaitable[object]]


def new_credential() -> str:
    return secrets.token_hex(16)


PER_ADDRESS = "registrations from your address"
PER_ADDRESS_LIMIT = "limits.registrations_per_address"


def _refused(name: str, client: str, limit: str) -> None:
    """The refused newcomer is told to wait; the operator is told which setting did it."""
    logger.info("registration of %r from %s refused: %s reached", name, client or "?", limit)


def _naming(refused: RateLimited, per_hour: int, limit: str) -> RateLimited:
    """The refusal, naming the setting: the sixth account an hour from 127.0.0.1 (a dev box,
    a LAN behind one address) is refused, and who runs the server is often the one told."""
    return RateLimited(
        f"{refused} ({per_hour} an hour, server setting {limit})", refused.retry_after
    )


class Accounts:
    def __init__(
        self,
        store: Store,
        *,
        registration_open: bool,
        min_password_length: int,
        hashing: PasswordHashing | None = None,
        throttle: LoginThrottle | None = None,
        names: NamePolicy | None = None,
        register_per_address: RateLimiter | None = None,
        register_total: RateLimiter | None = None,
        change_rate: RateLimiter | None = None,
        log: MessageLog | None = None,
        revoke: Revoke | None = None,
        tell: Tell | None = None,
        deletion_grace: float = DELETION_GRACE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`revoke` tells every node to close sessions: a node's Revocations.revoke, or (the
        default, for processes that are not nodes) an append to the store's revocations.
        `tell` tells every node of another event (a demotion's ends of memberships): a
        node's NodeEvents.publish, or (the default) the store's feed, as `revoke`.
        `log` is needed by `delete` only (a deleted account's messages go with it).
        `change_rate`: a user's own password changes (`change_password`), per user."""
        self._store = store
        self.throttle = throttle or LoginThrottle(free=0)
        self.registration_open = registration_open
        self.min_password_length = min_password_length
        self.hashing = hashing or PasswordHashing(PasswordHasher())
        self.names = names or NamePolicy()
        self._per_address = AddressRates(register_per_address)  # and per IPv6 /48
        self._total = register_total or RateLimiter(0, 0)
        self._change_rate = change_rate or RateLimiter(0, 0)
        self._changing: set[str] = set()  # keys of the users whose change is under way here
        self._log = log
        self._revoke: Revoke = revoke or (lambda r: store.add_revocation(r, self._now()))
        self._tell = tell or through_the_store(store, lambda: self._now())
        self._deletion_grace = deletion_grace
        self._now = now
        # A hash to verify against when the name is unknown, so timing does not reveal it.
        self._dummy_hash = self.hashing.hash_now("torbit-no-such-user")
        self._flight_key = secrets.token_bytes(32)  # identical attempts in flight, by digest
        self._flights: dict[bytes, asyncio.Future[User]] = {}

    # rules

    def check_password_rules(self, password: str) -> None:
        """The rules for a new password, on every door: registration, a change, a reset.
        Logins are not held to them: an account keeps the password it was registered with."""
        if len(password) < self.min_password_length:
            raise InvalidInput(
                f"password too short: use at least {self.min_password_length} characters"
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidInput(f"password too long: at most {MAX_PASSWORD_LENGTH} characters")
        if UNKEPT_IN_PASSWORDS.search(password):
            raise InvalidInput(
                "password refused: it holds a control character or U+FFFD (the mark of a"
                " character that could not be read), which a login could not give back"
                " exactly: choose another"
            )

    def password_problem(self, password: str) -> str | None:
        """Why a new password is refused, or None if it is fine."""
        try:
            self.check_password_rules(password)
        except InvalidInput as e:
            return e.message
        return None

    async def _name_error(self, name: str, by_admin: bool) -> TorbitError | None:
        """Reserved names are the administrator's to give (the CLI)."""
        error = self._rules_error(name, by_admin)
        if error is not None:
            return error
        return _taken(name, await self._store.users_named_like(name_key(name), skeleton(name)))

    def _rules_error(self, name: str, by_admin: bool) -> TorbitError | None:
        if not is_valid_name(name):
            return InvalidInput(
                f"names are 1-{MAX_NAME_LENGTH} letters a-z or A-Z, digits, '-', '_' or '.'"
            )
        why = self.names.problem(name, allow_reserved=by_admin)
        return InvalidInput(why) if why is not None else None

    async def look_up(self, name: str, client: str = "") -> tuple[bool, str | None]:
        """Whether an account has this name and, if none has and registration is open, why
        the name cannot be registered (None: it can): a login prompt's one store query.
        `client`'s address past `limits.registrations_per_address` is a why too, said before
        the new password is asked twice for nothing (nothing is charged here)."""
        key = check_name(name, "user name")
        found = await self._store.users_named_like(key, skeleton(name))
        if any(u.key == key for u in found):
            return True, None
        if not self.registration_open:
            return False, None
        error = self._rules_error(name, False) or _taken(name, found)
        if error is None and client:
            error = self._per_address.refusal(client, PER_ADDRESS)
            if error is not None:
                error = _naming(error, self._per_address.per_address.burst, PER_ADDRESS_LIMIT)
        return False, error.message if error is not None else None

    # registration

    async def exists(self, name: str) -> bool:
        return await self._store.get_user(check_name(name, "user name")) is not None

    async def register(
        self,
        name: str,
        password: str,
        *,
        by_admin: bool = False,
        client: str = "",
        looked_up: bool = False,
    ) -> User:
        """A new account. The name, the password rules and the rate limits (per client
        address and overall) are checked first; the password is hashed only then.

        `looked_up`: the caller's `look_up` found the name free moments ago (the telnet
        dialogue asks at the name prompt), so the store is not asked again before the hash;
        the insert still refuses the name if it, or one reading like it, was taken since."""
        check_name(name, "user name")
        if not (self.registration_open or by_admin):
            raise Forbidden("registration is closed: ask an administrator for an account")
        error = (
            self._rules_error(name, by_admin)
            if looked_up
            else await self._name_error(name, by_admin)
        )
        if error is not None:
            raise error
        self.check_password_rules(password)
        if not by_admin:
            # an IPv6 client's /64 (it has 2^64 addresses), as the login back-off counts, and
            # its /48 (65,536 /64s) for NETWORK_SHARE times as many (core/limits.py)
            try:
                self._per_address.check(client or "?", PER_ADDRESS)
            except RateLimited as e:
                _refused(name, client, f"{PER_ADDRESS_LIMIT} (an hour, from one address)")
                raise _naming(e, self._per_address.per_address.burst, PER_ADDRESS_LIMIT) from None
            try:
                self._total.check("", "registrations right now")
            except RateLimited as e:
                _refused(name, client, "limits.registrations_per_hour")
                raise _naming(e, self._total.burst, "limits.registrations_per_hour") from None
        try:
            password_hash = await self.hashing.hash(password, low_priority=not by_admin)
        except Overloaded:  # told to try again in a moment: that try is not charged
            if not by_admin:
                self._per_address.give_back(client or "?", 1)
                self._total.give_back("", 1)
            raise
        user = User(
            name=name,
            password_hash=password_hash,
            created_at=self._now(),
            credential=new_credential(),
        )
        try:
            return await self._store.create_user(user, unlike=True)
        except Conflict as e:  # taken meanwhile: say by which name, if it is still there
            raise await self._name_error(name, by_admin) or e from None

    # logging in

    async def authenticate(self, name: str, password: str, client: str = "") -> User:
        """The user, if the password is right; one error for unknown names and wrong passwords.
        The attempt is reserved with the throttle before the hash is checked, so parallel
        guesses cannot all be checked (RateLimited). Identical attempts in flight at once (a
        client's parallel requests with the same credentials) share one check: they are one
        guess, not several, and cost one hash. An attempt that joined a check begun before
        it is let in only if the account's credential is still the one that check read: a
        password change or deletion committed meanwhile (on any node) is not undone for it."""
        if not is_valid_name(name):
            raise AuthenticationFailed("wrong name or password")
        key = name_key(name)
        flight = hmac.digest(self._flight_key, f"{key}\0{client}\0{password}".encode(), "sha256")
        stale: asyncio.Future[User] | None = None
        while True:
            task = self._flights.get(flight)
            if task is None or task is stale:
                # A check done but not yet removed (its callback not run) is stale once its
                # credential was found changed: joined again, it answered at once, the read
                # needs no wait on SQLite, and this loop spun on the event loop for ever.
                task = asyncio.ensure_future(self._check(key, password, client))
                self._flights[flight] = task
                task.add_done_callback(lambda done: self._landed(flight, done))
                return await asyncio.shield(task)
            user = await asyncio.shield(task)
            current = await self._store.get_user(key)  # read after this attempt began
            if current is not None and current.credential == user.credential:
                return user
            stale = task  # changed since that check read it: checked again on its own

    def _landed(self, flight: bytes, done: asyncio.Future[User]) -> None:
        """A check is over: forget it, unless a newer check of the same attempt took its place."""
        if self._flights.get(flight) is done:
            del self._flights[flight]

    async def close(self) -> None:
        """At shutdown, before the store closes: a password check no login waits for any more
        (its handler cancelled at the doors' stop; the check is shielded) is let go too
        (core/tasks.py)."""
        await cancel_and_wait(self._flights.values())

    def admit_known(self, name: str, client: str = "") -> None:
        """For credentials a door verified moments ago and remembers (no hash now): raise
        RateLimited if the login throttle holds this account and address, as a check would,
        else count a success from the address, as a check does. Otherwise a throttled
        guesser would learn at once that a guess was right, whenever the owner's own use
        kept it remembered."""
        self.throttle.admit(name_key(name), client)

    async def _check(self, key: str, password: str, client: str) -> User:
        attempt = self.throttle.begin(key, client)
        try:
            user = await self._store.get_user(key)
            ok = await self.hashing.verify(
                user.password_hash if user else self._dummy_hash, password
            )
        except BaseException:
            attempt.abandoned()
            raise
        if user is None or not ok:
            attempt.failed()
            raise AuthenticationFailed("wrong name or password")
        attempt.succeeded()
        if self.hashing.needs_rehash(user.password_hash):
            # only over the hash just checked: a change made meanwhile is not undone
            rehashed = await self.hashing.hash(password)
            await self._store.set_password_hash(key, rehashed, expected=user.password_hash)
        return user

    # changes

    async def change_password(
        self,
        name: str,
        current: str,
        new: str,
        client: str = "",
        confirm: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """A user's own change, whatever door asked: the current password is checked
        (`authenticate`, the login throttle included), then `confirm` (the door's look that
        its caller was not logged out meanwhile), then `set_password` over the credential
        checked. Each costs two argon2 runs, so what is cheap is refused first, before any
        hash: the new password's rules; a change of the same user already under way on this
        node (Conflict at once: before, each of 40 parallel ones went on to hash its new
        password and all but one lost the race on the store's check, which still decides
        across nodes); and past `limits.password_change_rate`, RateLimited."""
        self.check_password_rules(new)
        key = name_key(name)
        if key in self._changing:
            raise Conflict(f"the password of {name!r} is being changed: wait for that answer")
        self._change_rate.check(key, "password changes")
        self._changing.add(key)
        try:
            checked = await self.authenticate(name, current, client)
            if confirm is not None:
                await confirm()
            await self.set_password(name, new, over=checked.credential)
        finally:
            self._changing.discard(key)

    async def set_password(self, name: str, password: str, over: str | None = None) -> None:
        """Set a new password: every token of the user is revoked and every session opened
        with the old one is closed, on every node, whichever door asked.

        The new hash is written only over the one read before it was computed: a change or
        a deletion that landed meanwhile wins, and this one fails with Conflict (changed
        meanwhile) or NotFound (deleted) instead of overwriting it or reviving the account.
        `over`: the credential the caller's current password was checked against; a change
        made since that check (its read was before this one's) wins too. Without it, a
        `PUT /me/password` overwrote a change that landed while its current password was
        hashed: two at once both answered 204, and a CLI reset was undone."""
        self.check_password_rules(password)
        user = await self.get(name)
        if user.password_hash == UNUSABLE_HASH:
            raise NotFound(f"no such user {name!r} (it is being deleted)")
        if over is not None and user.credential != over:
            raise Conflict(f"the password of {name!r} was changed meanwhile: try again")
        new_hash = await self.hashing.hash(password)
        if not await self._store.set_password_hash(
            user.key, new_hash, credential=new_credential(), expected=user.password_hash
        ):
            now = await self._store.get_user(user.key)
            if now is None or now.password_hash == UNUSABLE_HASH:
                raise NotFound(f"no such user {name!r} (it was deleted meanwhile)")
            raise Conflict(f"the password of {name!r} was changed meanwhile: try again")
        await self._store.delete_tokens_of(user.key)
        # the exceptions naming the account (+e, +I) stay: the same person holds it; only a
        # deletion lifts them (`delete`)
        await self._revoke(Revocation(user.key, "your password was changed", user.credential))

    async def get(self, name: str) -> User:
        user = await self._store.get_user(check_name(name, "user name"))
        if user is None:
            raise NotFound(f"no such user {name!r}")
        return user

    async def list(self) -> list[User]:
        return await self._store.list_users()

    async def delete(self, name: str) -> AccountDeletion:
        """Delete an account so that whoever takes the name next starts clean.

        First nobody can log in as the user any more (an unusable hash, no tokens), and
        every node is told to close their sessions; after DELETION_GRACE the account is
        deleted with its memberships, ignores, cursors and private messages. Rooms the user
        owned are deleted with their messages when no one else is a member, else become
        server-owned (moderated by server admins). The rooms' ban and invite exceptions
        naming exactly the account (`/invex alice`: `alice!*@*`) are lifted: they let that
        account in, not whoever registers the name next (ban masks naming it stay: they bar;
        docs/security.md)."""
        if self._log is None:
            raise RuntimeError("Accounts.delete needs the message log")
        user = await self._make_unusable(name)
        await self._store.delete_tokens_of(user.key)
        # before the revocation, on which every node drops its copy of the rooms' masks
        # (banmasks.RoomMasks); the name is not free again before `delete_user`
        await self._store.remove_masks_naming(user.key)
        await self._revoke(
            Revocation(user.key, "your account was deleted", user.credential, deleted=True)
        )
        if self._deletion_grace > 0:
            await asyncio.sleep(self._deletion_grace)
        deletion = await self._store.delete_user(user.key)
        if deletion is None:
            raise NotFound(f"no such user {name!r}")
        for channel in (inbox_channel(user.key), *deletion.rooms_deleted):
            await self._log.delete_channel(channel)
        return deletion

    async def _make_unusable(self, name: str) -> User:
        """Give the account the unusable hash over the one last read, so that the credential
        revoked next is the one replaced: a password change that landed in between (its
        new credential unrevoked) makes this read again."""
        for _ in range(DELETION_TRIES):
            user = await self.get(name)
            if await self._store.set_password_hash(
                user.key, UNUSABLE_HASH, credential=new_credential(), expected=user.password_hash
            ):
                return user
        raise Conflict(f"the password of {name!r} keeps changing: try the deletion again")

    async def set_admin(self, name: str, is_admin: bool) -> None:
        """Make the user a server admin, or no longer one. Taking it away closes the user's
        open sessions on every node, as a password change does (a revocation of their
        credential; their password and tokens stay, and they may log in again): what a
        server admin may do is read from the store at each action, but a session that went
        where only a server admin may stay (a room whose ban masks match it: masks never
        bar a server admin) would stay there. Before that, they leave the rooms they were
        in only by the right (core/demotion.py). Sessions acting as the account's operator
        (core/operators.py) lose that status at once and stay connected."""
        user = await self.get(name)
        if not await self._store.set_admin(user.key, is_admin):
            raise NotFound(f"no such user {name!r}")
        if user.is_admin and not is_admin:
            # the nodes forget those memberships with the kicks told (core/membercache.py)
            await leave_rooms_of_the_right(self._store, user, self._now, self._tell)
            # the credential as it is now: a session opened meanwhile with a new password
            # was opened while an admin too
            now = await self._store.get_user(user.key)
            credential = now.credential if now is not None else user.credential
            why = "you are no longer a server admin"
            await self._revoke(Revocation(user.key, why, credential))


def _taken(name: str, found: list[User]) -> Conflict | None:
    """The name's own account, or one whose name reads like it (`users_named_like`)."""
    if not found:
        return None
    if found[0].key == name_key(name):
        return Conflict(f"the name {name!r} is taken")
    return Conflict(f"the name {name!r} reads too much like {found[0].name!r}, which is taken")


__all__ = ["Accounts", "Conflict"]
