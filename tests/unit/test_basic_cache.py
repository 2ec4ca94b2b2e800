"""The cache of verified Basic credentials: `forget` drops exactly one user's entries."""

from torbit.frontends.http.auth import BasicCache


def test_forget_drops_every_entry_of_the_user_and_only_theirs() -> None:
    cache = BasicCache()
    alice_old = cache.digest("Alice", "old password")
    alice_new = cache.digest("alice", "new password")
    bob = cache.digest("bob", "secret")
    cache.put(alice_old, "Alice")
    cache.put(alice_new, "Alice")
    cache.put(bob, "bob")
    cache.forget("alice")
    assert cache.get(alice_old) is None
    assert cache.get(alice_new) is None
    assert cache.get(bob) == "bob"
    assert len(cache) == 1


def test_expired_and_evicted_entries_leave_no_trace_in_the_user_index() -> None:
    now = [0.0]
    cache = BasicCache(ttl=10.0, max_entries=2, clock=lambda: now[0])
    first, second, third = (cache.digest(f"u{i}", "pw") for i in range(3))
    cache.put(first, "u0")
    cache.put(second, "u1")
    cache.put(third, "u2")  # evicts the oldest (u0)
    assert cache.get(first) is None
    now[0] = 11.0
    assert cache.get(second) is None  # expired
    cache.forget("u0")
    cache.forget("u1")
    assert len(cache) == 1
    assert cache._by_user == {"u2": {third}}
