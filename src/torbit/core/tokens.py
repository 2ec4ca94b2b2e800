"""Login tokens for the HTTP API: random bearer tokens that expire and can be revoked.

Only the sha256 of a token is ever stored, so a leaked database does not leak working
tokens; the token itself has 256 bits of entropy, so a plain (unsalted) hash is enough.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from torbit.core.limits import RateLimiter
from torbit.core.ports import Store

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 256  # longer strings cannot be ours: refuse them before hashing


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    user_key: str
    expires_at: datetime
    evicted: tuple[str, ...] = ()  # hashes of the user's oldest tokens it revoked


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Tokens:
    """Issues, checks and revokes bearer tokens through the Store. Each token is a row until
    it expires, so how many one user gets is rate limited (`limits.token_rate`): before, one
    account could have thousands a minute written, each kept for `http.token_ttl_hours`. And
    a user holds at most `limits.tokens_per_user` live ones: a new token revokes the oldest
    past that (the rate alone let one account keep ~30,000 rows)."""

    def __init__(
        self,
        store: Store,
        ttl: timedelta,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        limiter: RateLimiter | None = None,
        per_user: int = 0,
    ) -> None:
        """`now`: the store's time (a node's: core/storeclock.py), which tokens are dated
        and expire by; `per_user`: live tokens a user may hold (0: no bound but the rate)."""
        self._store = store
        self.ttl = ttl
        self._now = now
        self._limiter = limiter or RateLimiter(0, 0)
        self.per_user = per_user

    async def issue(self, user_key: str) -> IssuedToken:
        """A new token for the user; RateLimited past `limits.token_rate`. Past
        `per_user` live tokens, the oldest are deleted (`evicted`: their sessions are to be
        closed by the caller). Revoking the oldest rather than refusing the new one: a
        login must keep working for the owner, however many tokens a leaked password or a
        runaway script made."""
        self._limiter.check(user_key, "logins: too many tokens issued")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = self._now() + self.ttl
        await self._store.create_token(token_hash(token), user_key, expires_at)
        evicted: list[str] = []
        if self.per_user:
            evicted = await self._store.trim_tokens(user_key, self.per_user)
        return IssuedToken(token, user_key, expires_at, tuple(evicted))

    def now(self) -> datetime:
        """The clock tokens expire by: the store's, not the checking node's wall clock,
        which a VM resumed or NTP steps (clock59: 2 minutes forward refused every token
        with less left, at once; back, kept expired ones working as long)."""
        return self._now()

    def left(self, expires_at: datetime) -> float:
        """Seconds until a token expiring at `expires_at` expires, by `now` (a door's timer
        of its end runs on the monotonic clock from there)."""
        return (expires_at - self._now()).total_seconds()

    async def user_of(self, token: str) -> str | None:
        """Key of the user owning this token, or None if it is unknown, expired or revoked."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        return await self._store.token_user(token_hash(token), self._now())

    async def expiry(self, token: str) -> datetime | None:
        """When the token expires (None: unknown or revoked): a WebSocket opened with it is
        closed then (frontends/http/ws_session.py)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        return await self._store.token_expiry(token_hash(token))

    async def revoke(self, token: str) -> bool:
        return await self._store.delete_token(token_hash(token))
