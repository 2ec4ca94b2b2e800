"""Look-alike names taken at the same instant (`create_user(unlike=True)`): guests taking
`aIice`, `a1ice`, `AIice` on several connections at once, or accounts registered in
parallel. Exactly one of a skeleton's names is created, on SQLite and on PostgreSQL, where
two transactions each seeing no look-alike both inserted theirs."""

from __future__ import annotations

import asyncio

from tests.contract.conftest import NOW
from torbit.core.models import User
from torbit.core.ports import Store
from torbit.errors import Conflict

LOOK_ALIKES = ("alice", "aIice", "a1ice")  # three keys, one skeleton


async def test_look_alikes_created_at_once_leave_one(store: Store) -> None:
    names = LOOK_ALIKES
    assert len({User(name=n, password_hash="", created_at=NOW).skeleton for n in names}) == 1
    for round_ in range(10):
        made = await asyncio.gather(
            *(
                store.create_user(
                    User(name=f"{n}{round_}", password_hash="!guest", created_at=NOW),
                    unlike=True,
                )
                for n in names
            ),
            return_exceptions=True,
        )
        created = [m for m in made if isinstance(m, User)]
        assert len(created) == 1, [m.name for m in created]
        assert all(isinstance(m, Conflict) for m in made if not isinstance(m, User))
