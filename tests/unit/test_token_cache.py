"""The node's cache of live bearer tokens (frontends/http/tokencache.py): bounded by the TTL
and by the token's own expiry, forgotten by a revocation of the user, and not filled by a
check that a revocation overtook. A clock passed in, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from torbit.frontends.http.tokencache import TokenCache

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
HOUR = NOW + timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def remember(cache: TokenCache, digest: str, name: str = "Alice", expires: datetime = HOUR) -> None:
    cache.put(digest, name, f"cred-{name}", expires, NOW, cache.generation)


def test_a_hit_is_the_owner_and_the_token_s_expiry() -> None:
    cache = TokenCache(ttl=30, clock=Clock())
    remember(cache, "h1")
    assert cache.get("h1") == ("Alice", "cred-Alice")
    assert cache.expiry("h1") == HOUR
    assert cache.get("h2") is None and cache.expiry("h2") is None


def test_an_entry_lives_no_longer_than_the_ttl_nor_the_token() -> None:
    clock = Clock()
    cache = TokenCache(ttl=30, clock=clock)
    remember(cache, "long")
    remember(cache, "short", expires=NOW + timedelta(seconds=5))
    remember(cache, "gone", expires=NOW - timedelta(seconds=1))
    assert cache.get("gone") is None  # expired when read: never remembered
    clock.now += 5
    assert cache.get("short") is None  # the token expired: not kept past it
    assert cache.get("long") is not None
    clock.now += 25
    assert cache.get("long") is None  # the TTL


def test_a_revocation_forgets_every_token_of_the_user_only() -> None:
    cache = TokenCache(clock=Clock())
    remember(cache, "a1")
    remember(cache, "a2")
    remember(cache, "b1", "bob")
    cache.forget("alice")
    assert cache.get("a1") is None and cache.get("a2") is None
    assert cache.get("b1") == ("bob", "cred-bob")


def test_a_check_overtaken_by_a_revocation_is_not_remembered() -> None:
    cache = TokenCache(clock=Clock())
    before = cache.generation  # read before the store was asked
    cache.forget("alice")  # a logout applied while the store answered
    cache.put("a1", "Alice", "cred", HOUR, NOW, before)
    assert cache.get("a1") is None


def test_the_cache_is_bounded_oldest_out() -> None:
    cache = TokenCache(max_entries=2, clock=Clock())
    for digest in ("a1", "a2", "a3"):
        remember(cache, digest)
    assert [cache.get(d) is not None for d in ("a1", "a2", "a3")] == [False, True, True]
    cache.forget("alice")
    assert cache.get("a3") is None
