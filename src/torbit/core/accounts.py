"""Accounts: registration, password checks and changes. Passwords are kept only as argon2id
hashes; hashing runs in a worker thread so the event loop never stalls on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from torbit.core.limits import LoginThrottle
from torbit.core.models import User
from torbit.core.names import check_name, is_valid_name, name_key
from torbit.core.ports import Store
from torbit.errors import AuthenticationFailed, Conflict, Forbidden, InvalidInput, NotFound

MAX_PASSWORD_LENGTH = 1024


class Accounts:
    def __init__(
        self,
        store: Store,
        *,
        registration_open: bool,
        min_password_length: int,
        hasher: PasswordHasher | None = None,
        throttle: LoginThrottle | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self.throttle = throttle or LoginThrottle(free=0)
        self.registration_open = registration_open
        self.min_password_length = min_password_length
        self._hasher = hasher or PasswordHasher()
        self._now = now
        # A hash to verify against when the name is unknown, so timing does not reveal it.
        self._dummy_hash = self._hasher.hash("torbit-no-such-user")

    def check_password_rules(self, password: str) -> None:
        if len(password) < self.min_password_length:
            raise InvalidInput(
                f"password too short: use at least {self.min_password_length} characters"
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidInput(f"password too long: at most {MAX_PASSWORD_LENGTH} characters")

    def password_problem(self, password: str) -> str | None:
        """Why a new password is refused, or None if it is fine."""
        try:
            self.check_password_rules(password)
        except InvalidInput as e:
            return e.message
        return None

    async def hash_password(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def exists(self, name: str) -> bool:
        return await self._store.get_user(check_name(name, "user name")) is not None

    async def register(self, name: str, password: str, *, by_admin: bool = False) -> User:
        check_name(name, "user name")
        if not (self.registration_open or by_admin):
            raise Forbidden("registration is closed: ask an administrator for an account")
        self.check_password_rules(password)
        user = User(
            name=name, password_hash=await self.hash_password(password), created_at=self._now()
        )
        return await self._store.create_user(user)

    async def authenticate(self, name: str, password: str, client: str = "") -> User:
        """The user, if the password is right; one error for unknown names and wrong passwords.
        Repeated failures for an account or from a client address back off exponentially."""
        if not is_valid_name(name):
            raise AuthenticationFailed("wrong name or password")
        key = name_key(name)
        keys = (f"user:{key}", f"ip:{client}") if client else (f"user:{key}",)
        self.throttle.check(*keys)
        user = await self._store.get_user(key)
        ok = await asyncio.to_thread(
            self._verify, user.password_hash if user else self._dummy_hash, password
        )
        if user is None or not ok:
            self.throttle.failed(*keys)
            raise AuthenticationFailed("wrong name or password")
        self.throttle.succeeded(keys[0])
        if self._hasher.check_needs_rehash(user.password_hash):
            await self._store.set_password_hash(key, await self.hash_password(password))
        return user

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def set_password(self, name: str, password: str) -> None:
        """Set a new password and revoke every token of the user, whichever door asked."""
        self.check_password_rules(password)
        key = check_name(name, "user name")
        if not await self._store.set_password_hash(key, await self.hash_password(password)):
            raise NotFound(f"no such user {name!r}")
        await self._store.delete_tokens_of(key)

    async def get(self, name: str) -> User:
        user = await self._store.get_user(check_name(name, "user name"))
        if user is None:
            raise NotFound(f"no such user {name!r}")
        return user

    async def list(self) -> list[User]:
        return await self._store.list_users()

    async def delete(self, name: str) -> None:
        if not await self._store.delete_user(check_name(name, "user name")):
            raise NotFound(f"no such user {name!r}")

    async def set_admin(self, name: str, is_admin: bool) -> None:
        if not await self._store.set_admin(check_name(name, "user name"), is_admin):
            raise NotFound(f"no such user {name!r}")


__all__ = ["Accounts", "Conflict"]
