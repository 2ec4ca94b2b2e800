"""Bearer tokens this node found live in the store, remembered for a short while: a client
polling with a token (`GET /receive` every few seconds) then asks the store nothing about
its credentials, as one whose Basic password is remembered (auth.py's BasicCache; both are
credcache.py's). Exact on revocation as that cache is: every revocation of the user applied
on this node (from any node, or the CLI's feed within its poll) forgets their tokens here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from torbit.frontends.http.credcache import CredentialCache

# as auth.py's BASIC_CACHE_TTL and BASIC_CACHE_SIZE: a token is remembered as long as a
# verified password
TOKEN_CACHE_TTL = 30.0
TOKEN_CACHE_SIZE = 10_000


class TokenCache:
    """Bearer tokens recently found live in the store, by their sha256 (the store's key):
    the owner's name and credential, kept at most `ttl` and never past the token's expiry
    (a `CredentialCache`). A revocation of the user (a logout, a password change or
    deletion, a token evicted by a newer login, a lost admin right; from any node or the
    CLI's feed) forgets every one of their tokens here, so a token deleted in the store is
    refused on this node from the moment the revocation is applied here, as a remembered
    Basic password is. The raw token is not kept (a hit is made a Principal with the token
    the request carried), so a memory dump holds no working token from here."""

    def __init__(
        self,
        ttl: float = TOKEN_CACHE_TTL,
        max_entries: int = TOKEN_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # digest -> (name, credential, the token's expiry)
        self._cache: CredentialCache[str, tuple[str, str, datetime]] = CredentialCache(
            ttl, max_entries, clock
        )

    @property
    def generation(self) -> int:
        """Moves on every `forget`: see `put`."""
        return self._cache.generation

    def get(self, digest: str) -> tuple[str, str] | None:
        """The owner's display name and credential, if the token is remembered."""
        hit = self._cache.get(digest)
        return None if hit is None else (hit[0], hit[1])

    def expiry(self, digest: str) -> datetime | None:
        """When a remembered token expires (None: not remembered)."""
        hit = self._cache.get(digest)
        return None if hit is None else hit[2]

    def put(
        self,
        digest: str,
        name: str,
        credential: str,
        expires_at: datetime,
        now: datetime,
        generation: int,
    ) -> None:
        """Remember a token found live, expiring at `expires_at` (`now` by the same clock),
        unless a revocation was applied since `generation` was read (before the store was
        asked)."""
        lifetime = (expires_at - now).total_seconds()
        self._cache.put(digest, name.lower(), (name, credential, expires_at), generation, lifetime)

    def forget(self, user_key: str) -> None:
        self._cache.forget(user_key)
