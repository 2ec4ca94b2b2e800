"""The one cache of verified credentials (frontends/http/credcache.py) behind auth.py's
BasicCache and tokencache.py's TokenCache: under hypothesis it answers as a plain list that
forgets a user by walking every entry (BasicCache before it had an index), and its per-user
index never holds more than the entries do. A clock passed in, no server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from torbit.frontends.http.auth import BasicCache, Principal
from torbit.frontends.http.credcache import CredentialCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Walked:
    """The reference: entries in order, a revocation walks them all."""

    ttl: float
    max_entries: int
    clock: Clock
    entries: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    generation: int = 0

    def get(self, digest: str) -> str | None:
        entry = self.entries.get(digest)
        if entry is None or entry[2] <= self.clock():
            self.entries.pop(digest, None)
            return None
        return entry[1]

    def put(self, digest: str, user: str, hit: str, generation: int, lifetime: float) -> None:
        if generation != self.generation or lifetime <= 0:
            return
        self.entries.pop(digest, None)
        while len(self.entries) >= self.max_entries:
            del self.entries[next(iter(self.entries))]
        self.entries[digest] = (user, hit, self.clock() + min(self.ttl, lifetime))

    def forget(self, user: str) -> None:
        self.generation += 1
        for digest in [d for d, (u, _, _) in self.entries.items() if u == user]:
            del self.entries[digest]


DIGESTS = st.sampled_from([f"d{i}" for i in range(12)])
USERS = st.sampled_from(["alice", "bob", "carol"])
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), DIGESTS, USERS, st.integers(0, 50), st.booleans()),
        st.tuples(st.just("get"), DIGESTS),
        st.tuples(st.just("forget"), USERS),
        st.tuples(st.just("wait"), st.integers(0, 40)),
    ),
    max_size=80,
)


@settings(max_examples=300)
@given(st.integers(1, 8), STEPS)
def test_it_answers_as_a_cache_that_walks_every_entry(
    max_entries: int, steps: list[tuple[Any, ...]]
) -> None:
    clock = Clock()
    cache: CredentialCache[str, str] = CredentialCache(30.0, max_entries, clock)
    walked = Walked(30.0, max_entries, clock)
    for step in steps:
        if step[0] == "put":
            _, digest, user, lifetime, stale = step
            assert cache.generation == walked.generation
            generation = cache.generation - 1 if stale else cache.generation  # overtaken
            hit = f"{user}:{digest}"
            cache.put(digest, user, hit, generation, lifetime)
            walked.put(digest, user, hit, generation, lifetime)
        elif step[0] == "get":
            assert cache.get(step[1]) == walked.get(step[1])
        elif step[0] == "forget":
            cache.forget(step[1])
            walked.forget(step[1])
        else:
            clock.now += step[1]
        indexed = {d for digests in cache._of_user.values() for d in digests}
        assert indexed == set(cache._entries)  # the index holds what the entries do, no more
        assert all(cache._of_user.values())  # nor a user with none left
        assert len(cache._entries) <= max_entries
    for digest in (f"d{i}" for i in range(12)):
        assert cache.get(digest) == walked.get(digest)


def test_a_basic_revocation_forgets_the_user_s_passwords_only() -> None:
    clock = Clock()
    cache = BasicCache(ttl=30, clock=clock)
    alice = Principal("Alice", credential="c1")
    for password in ("one", "two"):
        cache.put(cache.digest("Alice", password), alice.key, alice, cache.generation)
    bob = Principal("bob", credential="c2")
    cache.put(cache.digest("bob", "pw"), bob.key, bob, cache.generation)
    before = cache.generation
    cache.forget("alice")
    assert cache.get(cache.digest("Alice", "one")) is None
    assert cache.get(cache.digest("Alice", "two")) is None
    assert cache.get(cache.digest("bob", "pw")) == bob
    cache.put(cache.digest("Alice", "one"), alice.key, alice, before)  # overtaken
    assert cache.get(cache.digest("Alice", "one")) is None
    assert cache.digest("Alice", "one") != BasicCache().digest("Alice", "one")  # own key
    clock.now += 30
    assert cache.get(cache.digest("bob", "pw")) is None  # the TTL
