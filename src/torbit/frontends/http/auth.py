"""Who is calling: HTTP Basic credentials or a bearer token, turned into a Principal.

Password hashing (argon2id) is slow on purpose, so paying it on every request of a Basic-auth
client would make the API slow and easy to overload. Successful Basic checks are therefore
remembered for a short time (BASIC_CACHE_TTL) under an HMAC of name and password with a key
that lives only in this process's memory: a memory dump yields no fast-to-crack password
hashes. Every revocation (a password change or account deletion through any door, another
node or the `torbit user` CLI; a logout) forgets the user's entries on every node at once.
Failed checks are never cached, so a wrong password always costs the full hash and goes
through the login throttle; and a remembered one is let in only where the throttle would let
a check start, so a throttled guesser cannot tell a right guess from a refused one.
A WebSocket's handshake (Basic) and a token login are checked the same way, and a
registration leaves its new credentials remembered.

Bearer tokens checked on this node are remembered the same way (TokenCache), so a client
polling with a token costs no store read for its credentials: the same TTL, the same
forgetting on every revocation of the user, and never past the token's own expiry.
"""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated

from fastapi import Security
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection

from torbit.core.accounts import Accounts
from torbit.core.events import SessionsRevoked
from torbit.core.models import Revocation, User
from torbit.core.revocation import Revocations
from torbit.core.sessions import Proof
from torbit.core.tokens import MAX_TOKEN_LENGTH, IssuedToken, Tokens, token_hash
from torbit.errors import AuthenticationFailed, InvalidInput, NotFound
from torbit.frontends.http.credcache import CredentialCache
from torbit.frontends.http.tokencache import TokenCache

BASIC_CACHE_TTL = 30.0
BASIC_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the user's display name, the token used, if any, and the
    user's credential id as read when the password or token was checked."""

    name: str
    token: str | None = None
    credential: str = ""
    # this node's count of applied revocations when the check began (`Authenticator.
    # revocations`), -1 unknown: a request that waits (a long poll) reads its proof again
    # when one was applied since (longpoll.py)
    revocations: int = -1

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def proof(self) -> Proof:
        """What a session opened by this caller is revoked by (core/sessions.py)."""
        return Proof(self.credential, token_hash(self.token) if self.token else "")


class BasicCache(CredentialCache[bytes, Principal]):
    """Recently verified Basic credentials, bounded in size and age, by an HMAC of name and
    password under this process's own key; forgotten per user (`CredentialCache`)."""

    def __init__(
        self,
        ttl: float = BASIC_CACHE_TTL,
        max_entries: int = BASIC_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(ttl, max_entries, clock)
        self._key = secrets.token_bytes(32)

    def digest(self, name: str, password: str) -> bytes:
        data = f"{name}\0{password}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, data, hashlib.sha256).digest()


def client_address(connection: HTTPConnection) -> str:
    return connection.client.host if connection.client else "?"


def parse_basic(param: str) -> tuple[str, str]:
    """RFC 7617 credentials (UTF-8) from the part after 'Basic '. Header bytes come as
    latin-1 text, and base64 of text other than ASCII is a ValueError of its own (neither
    binascii.Error nor UnicodeDecodeError): it answered 500 with tracebacks in the log."""
    try:
        decoded = base64.b64decode(param, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and text that is not ASCII
        raise AuthenticationFailed("malformed Basic credentials") from None
    name, sep, password = decoded.partition(":")
    if not sep:
        raise AuthenticationFailed("malformed Basic credentials")
    return name, password


class Authenticator:
    """Checks credentials, issues and revokes tokens, changes passwords."""

    def __init__(
        self,
        accounts: Accounts,
        tokens: Tokens,
        revocations: Revocations,
        cache: BasicCache | None = None,
        token_cache: TokenCache | None = None,
    ):
        self._accounts = accounts
        self._tokens = tokens
        self._revocations = revocations
        self._cache = cache or BasicCache()
        self._token_cache = token_cache or TokenCache()
        self.revocations = 0  # applied on this node so far: see Principal.revocations
        revocations.on_revoked(self._revoked)

    def _revoked(self, event: SessionsRevoked) -> None:
        self._cache.forget(event.user)
        self._token_cache.forget(event.user)
        self.revocations += 1

    def on_revoked(self, handler: Callable[[SessionsRevoked], None]) -> None:
        """Also call `handler` for every revocation applied here, after it was counted."""
        self._revocations.on_revoked(handler)

    async def still_holds(self, principal: Principal) -> bool:
        """Whether what the caller was checked with still holds, read from the store: the
        account's credential is the one checked and the token (if one was used) is live."""
        if (
            principal.token is not None
            and await self._tokens.user_of(principal.token) != principal.key
        ):
            return False
        try:
            user = await self._accounts.get(principal.key)
        except (NotFound, InvalidInput):
            return False
        return user.credential == principal.credential

    async def authorization(
        self, header: str | None, client: str = "", *, remembered: bool = True
    ) -> Principal:
        """The caller named by an `Authorization` header, Basic or Bearer; `client` is the
        peer's address, for the login back-off. It carries this node's count of revocations
        from before the check began (`Principal.revocations`), whichever route asked.
        `remembered`: a bearer token may be taken from this node's cache (see `bearer`)."""
        before = self.revocations
        return replace(await self._identify(header, client, remembered), revocations=before)

    async def confirm(self, principal: Principal) -> None:
        """AuthenticationFailed if a revocation applied here since the caller's check began
        (a password change, a deletion, a logout; from any node) took away what it was
        checked with: argon2 runs for milliseconds, and a check that passed is otherwise
        acted on though its login was revoked meanwhile. A request asks this before it acts.
        Costs a comparison unless one was applied meanwhile (then the store is asked)."""
        if principal.revocations != self.revocations and not await self.still_holds(principal):
            raise AuthenticationFailed("your login was revoked: you are logged out")

    async def holds(self, principal: Principal) -> None:
        """`confirm` at the moment a request acts (core/messaging.py's `Holds`): returns only
        once no revocation was applied here since its last read of the store, so what the
        caller does right after, with no wait between, is never done by a revoked login.
        A revocation is applied after its change was committed, so a read begun after it
        sees the change. Costs a comparison unless one was applied meanwhile."""
        seen = principal.revocations
        while seen != self.revocations:
            now = self.revocations
            if not await self.still_holds(principal):
                raise AuthenticationFailed("your login was revoked: you are logged out")
            seen = now

    async def _identify(self, header: str | None, client: str, remembered: bool) -> Principal:
        if not header:
            raise AuthenticationFailed("authentication required")
        scheme, _, param = header.strip().partition(" ")
        param = param.strip()
        if scheme.lower() == "bearer" and param:
            return await self.bearer(param, remembered=remembered)
        if scheme.lower() == "basic" and param:
            return await self.basic(*parse_basic(param), client)
        raise AuthenticationFailed("use Basic credentials or a Bearer token")

    async def basic(self, name: str, password: str, client: str = "") -> Principal:
        """The caller, from the cache of verified credentials or a full check (which then
        fills it). The same for a request, a WebSocket's handshake and a token login."""
        digest = self._cache.digest(name, password)
        cached = self._cache.get(digest)
        if cached is not None:
            self._accounts.admit_known(cached.name, client)  # the throttle still holds
            return cached
        generation = self._cache.generation
        user = await self._check_password(name, password, client)
        principal = Principal(user.name, credential=user.credential)
        self._cache.put(digest, principal.key, principal, generation)
        return principal

    async def register(self, name: str, password: str, client: str) -> User:
        """A new account, whose name and password are then known good: the client's next
        request, socket or token login with them costs no second hash (argon2)."""
        generation = self._cache.generation
        user = await self._accounts.register(name, password, client=client)
        principal = Principal(user.name, credential=user.credential)
        self._cache.put(self._cache.digest(name, password), principal.key, principal, generation)
        return user

    async def bearer(self, token: str, *, remembered: bool = True) -> Principal:
        """The token's owner: from the node's cache of live tokens (no store read), or read
        from the store (its owner, the account, its expiry), then remembered. Not
        `remembered`: read from the store whatever the cache holds, for a WebSocket's
        handshake, whose session relies on that read (a revocation committed before it is
        refused at once, even on a node its event has not reached yet: core/sessions.py).
        A session opened with it is re-checked once attached, so a password change between
        these reads cannot be missed."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationFailed("invalid or expired token")
        digest = token_hash(token)
        known = self._token_cache.get(digest) if remembered else None
        if known is not None:
            return Principal(known[0], token, known[1])
        generation = self._token_cache.generation
        key = await self._tokens.user_of(token)
        if key is None:
            raise AuthenticationFailed("invalid or expired token")
        try:
            user = await self._accounts.get(key)
        except NotFound:
            raise AuthenticationFailed("invalid or expired token") from None
        principal = Principal(user.name, token, user.credential)
        # a token's expiry never changes: the one remembered (a handshake skips the cache)
        expires_at = self._token_cache.expiry(digest) or await self._tokens.expiry(token)
        if expires_at is not None:
            now = self._tokens.now()
            self._token_cache.put(digest, user.name, user.credential, expires_at, now, generation)
        return principal

    async def token_expiry(self, token: str) -> datetime | None:
        """When the token expires (None: unknown or revoked); a token this node remembers
        (`bearer` just found it live) asks the store nothing."""
        if token and len(token) <= MAX_TOKEN_LENGTH:
            known = self._token_cache.expiry(token_hash(token))
            if known is not None:
                return known
        return await self._tokens.expiry(token)

    def expires_in(self, expires_at: datetime) -> float:
        """Seconds until a token expiring at `expires_at` expires, by the store's time (as
        `bearer` judges it), never this node's wall clock, which steps (clock59)."""
        return self._tokens.left(expires_at)

    async def _check_password(self, name: str, password: str, client: str) -> User:
        try:
            return await self._accounts.authenticate(name, password, client)
        except InvalidInput:  # a malformed name is just a wrong name here
            raise AuthenticationFailed("wrong name or password") from None

    async def login(self, name: str, password: str, client: str) -> tuple[str, IssuedToken]:
        """The user's display name and a new token. The password is checked as a Basic
        request's is (`basic`: credentials verified moments ago cost no second hash; a wrong
        one always costs the full hash and goes through the login throttle). A password
        change or deletion between the check and the token's creation revoked every token
        but this one: the account is read again once the token exists (a change writes the
        new credential before it deletes the tokens), and the token is taken back if its
        credential is not the one checked."""
        checked = await self.basic(name, password, client)
        issued = await self._tokens.issue(checked.key)
        try:
            current = await self._accounts.get(checked.key)
        except (NotFound, InvalidInput):
            current = None
        if current is None or current.credential != checked.credential:
            await self._tokens.revoke(issued.token)
            raise AuthenticationFailed("wrong name or password")
        for old in issued.evicted:  # past `limits.tokens_per_user`: the oldest are signed out
            await self._revocations.revoke(
                Revocation(checked.key, "a newer login replaced this token", token=old)
            )
        return current.name, issued

    async def logout(self, principal: Principal) -> None:
        """Revoke the token, and close the sessions (WebSockets) opened with it, everywhere."""
        if principal.token is None:
            raise NotFound("no token session: these credentials are Basic, not a token")
        await self._tokens.revoke(principal.token)
        await self._revocations.revoke(
            Revocation(principal.key, "you logged out", token=token_hash(principal.token))
        )

    async def change_password(
        self, principal: Principal, current: str, new: str, client: str
    ) -> None:
        """Check the current password, set the new one, and log the user out everywhere. A
        revocation applied while the current one was hashed (another change, the owner's
        say) is not overwritten: `confirm` first. Nor is a change not yet applied here (the
        CLI's, another node's): the new hash goes over the one checked. Rate limited per
        user, and one at a time on a node: `Accounts.change_password`."""
        await self._accounts.change_password(
            principal.name, current, new, client, confirm=lambda: self.confirm(principal)
        )


class _AuthorizationHeader(SecurityBase):
    """Documents one HTTP auth scheme in OpenAPI; returns the raw header for Authenticator."""

    def __init__(self, model: HTTPBaseModel, scheme_name: str) -> None:
        self.model = model
        self.scheme_name = scheme_name

    async def __call__(self, request: HTTPConnection) -> str | None:
        return request.headers.get("authorization")


BASIC = _AuthorizationHeader(
    HTTPBaseModel(scheme="basic", description="Name and password (UTF-8)"), "basic"
)
BEARER = _AuthorizationHeader(
    HTTPBearerModel(description="A token from POST /api/v1/sessions"), "bearer"
)


def principal_dependency(auth: Authenticator) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the authenticated caller, or 401 (also when its login was
    revoked while it was checked: `Authenticator.confirm`)."""

    async def principal(
        request: HTTPConnection,
        basic: Annotated[str | None, Security(BASIC)],
        bearer: Annotated[str | None, Security(BEARER)],
    ) -> Principal:
        caller = await auth.authorization(basic or bearer, client_address(request))
        await auth.confirm(caller)
        return caller

    return principal
