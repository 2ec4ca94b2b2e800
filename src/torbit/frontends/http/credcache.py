"""Credentials this node verified lately, remembered for a short while so that a client asking
again costs no check: a Basic password's HMAC (auth.py's BasicCache, sparing argon2) and a
bearer token's sha256 (tokencache.py, sparing the store's reads). Bounded in age (`ttl`, and
a lifetime of the entry's own: a token's expiry) and in size (the oldest out), and exact on
revocation: `forget` drops every entry of the user through a per-user index (no walk of the
whole cache) and moves `generation` on, so that a check a revocation overtook is not
remembered (`put`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)  # the credential's digest
V = TypeVar("V")  # what a hit gives


class CredentialCache(Generic[K, V]):
    def __init__(
        self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[str, V, float]] = {}  # digest -> (user key, hit, deadline)
        self._of_user: dict[str, set[K]] = {}  # user key -> their digests
        self.generation = 0  # moves on every `forget`: see `put`

    def get(self, digest: K) -> V | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[2] <= self._clock():
            self._drop(digest)
            return None
        return entry[1]

    def put(
        self,
        digest: K,
        user_key: str,
        hit: V,
        generation: int | None = None,
        lifetime: float = math.inf,
    ) -> None:
        """Remember a check that passed, for at most `lifetime` seconds too, unless a
        revocation was applied since `generation` was read (before the check began): a
        password changed or a token revoked meanwhile is not kept working."""
        if (generation is not None and generation != self.generation) or lifetime <= 0:
            return
        self._drop(digest)
        while len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))  # the oldest
        self._entries[digest] = (user_key, hit, self._clock() + min(self.ttl, lifetime))
        self._of_user.setdefault(user_key, set()).add(digest)

    def forget(self, user_key: str) -> None:
        """A revocation of the user: none of their entries is a hit any more."""
        self.generation += 1
        for digest in self._of_user.pop(user_key, ()):
            self._entries.pop(digest, None)

    def _drop(self, digest: K) -> None:
        entry = self._entries.pop(digest, None)
        if entry is not None:
            digests = self._of_user.get(entry[0])
            if digests is not None:
                digests.discard(digest)
                if not digests:
                    del self._of_user[entry[0]]
