"""What the cache of verified Basic credentials costs (gcra, bench/JOURNAL.md): a hit
(`BasicCache.get`, every request of a Basic client), and a revocation's `forget` in a full
cache (10,000 entries, as BASIC_CACHE_SIZE): main walked every entry, the branch drops the
user's through an index. timeit, best of 5. Runs against main's tree too (PYTHONPATH), for the
reference in the same sitting.

    flock /tmp/bench.lock .venv/bin/python bench/credential_cache_cost.py
"""

from __future__ import annotations

import os
import timeit
from typing import Any

from torbit.frontends.http.auth import BasicCache, Principal

ENTRIES = 10_000


def main() -> None:
    cache = BasicCache()
    users = [Principal(f"user{i}", credential="c") for i in range(ENTRIES)]
    digests = [cache.digest(p.name, "pw") for p in users]
    put: Any = cache.put
    for digest, principal in zip(digests, users, strict=True):
        if hasattr(cache, "_of_user"):  # this tree's CredentialCache
            put(digest, principal.key, principal, cache.generation)
        else:  # main's
            put(digest, principal, cache.generation)
    hit = digests[ENTRIES // 2]
    assert cache.get(hit) is not None
    n = 200_000
    get = min(timeit.repeat(lambda: cache.get(hit), number=n, repeat=5)) / n * 1e9
    forgotten = iter(range(ENTRIES))

    def forget() -> None:
        cache.forget(f"user{next(forgotten)}")

    each = min(timeit.repeat(forget, number=200, repeat=5)) / 200 * 1e6
    assert len(cache._entries) == ENTRIES - 1000  # each forget dropped its user's entry
    print(
        f"{os.environ.get('PYTHONPATH') or 'this tree'}: a hit {get:.1f} ns, a forget in a"
        f" full cache {each:.1f} µs (load {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
