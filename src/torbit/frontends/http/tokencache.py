"""Bearer tokens this node found live in the store, remembered for a short while: a client
polling with a token (`GET /receive` every few seconds) then asks the store nothing about
its credentials, as one whose Basic password is remembered (auth.py's BasicCache). Exact
on revocation as that cache is: every revocation of the user applied on this node (from
any node, or the CLI's feed within its poll) forgets their tokens here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

# as auth.py's BASIC_CACHE_TTL and BASIC_CACHE_SIZE: a token is remembered as long as a
# verified password
TOKEN_CACHE_TTL = 30.0
TOKEN_CACHE_SIZE = 10_000


class TokenCache:
    """Bearer tokens recently found live in the store, by their sha256 (the store's key):
    the owner's name and credential, kept at most `ttl` and never past the token's expiry.
    A revocation of the user (a logout, a password change or deletion, a token evicted by a
    newer login, a lost admin right; from any node or the CLI's feed) forgets every one of
    their tokens here, so a token deleted in the store is refused on this node from the
    moment the revocation is applied here, as a remembered Basic password is. The raw token
    is not kept (a hit is made a Principal with the token the request carried), so a memory
    dump holds no working token from here."""

    def __init__(
        self,
        ttl: float = TOKEN_CACHE_TTL,
        max_entries: int = TOKEN_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        # digest -> (name, credential, monotonic deadline, the token's expiry); user key ->
        # their digests
        self._entries: dict[str, tuple[str, str, float, datetime]] = {}
        self._of_user: dict[str, set[str]] = {}
        self.generation = 0  # moves on every `forget`: see `put`

    def get(self, digest: str) -> tuple[str, str] | None:
        """The owner's display name and credential, if the token is remembered."""
        hit = self._live(digest)
        return None if hit is None else (hit[0], hit[1])

    def expiry(self, digest: str) -> datetime | None:
        """When a remembered token expires (None: not remembered)."""
        hit = self._live(digest)
        return None if hit is None else hit[3]

    def _live(self, digest: str) -> tuple[str, str, float, datetime] | None:
        hit = self._entries.get(digest)
        if hit is not None and hit[2] <= self._clock():
            self._drop(digest)
            return None
        return hit

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
        if generation != self.generation or lifetime <= 0:
            return
        self._drop(digest)
        while len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))  # the oldest
        deadline = self._clock() + min(self.ttl, lifetime)
        self._entries[digest] = (name, credential, deadline, expires_at)
        self._of_user.setdefault(name.lower(), set()).add(digest)

    def forget(self, user_key: str) -> None:
        self.generation += 1
        for digest in self._of_user.pop(user_key, ()):
            self._entries.pop(digest, None)

    def _drop(self, digest: str) -> None:
        hit = self._entries.pop(digest, None)
        if hit is not None:
            key = hit[0].lower()
            digests = self._of_user.get(key)
            if digests is not None:
                digests.discard(digest)
                if not digests:
                    del self._of_user[key]
