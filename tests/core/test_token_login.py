"""A session opened with a token its door has just read in the store (a WebSocket's
handshake): the login does not read the token again, and a revocation applied on this node
since the door's read still closes it (core/sessions.py, `checked_after`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.core.conftest import Core, Recorder
from torbit.core.events import SessionsRevoked
from torbit.core.sessions import Proof
from torbit.core.tokens import Tokens, token_hash
from torbit.errors import AuthenticationFailed


async def checked_token(core: Core, name: str) -> tuple[int, Proof, list[str]]:
    """The revocations count before the door's read, the proof it found, and a list of the
    store's token reads from then on."""
    await core.user(name)
    tokens = Tokens(core.store, timedelta(hours=1))
    issued = await tokens.issue(name)
    reads: list[str] = []
    read = core.store.token_user

    async def counted(hash_: str, now: datetime) -> Any:
        reads.append(hash_)
        return await read(hash_, now)

    core.store.token_user = counted  # type: ignore[method-assign,assignment]
    since = core.sessions.revocations
    assert await tokens.user_of(issued.token) == name  # the door's own read
    user = await core.store.get_user(name)
    assert user is not None
    return since, Proof(user.credential, token_hash(issued.token)), reads


async def test_a_token_checked_by_the_door_is_not_read_again(core: Core) -> None:
    since, proof, reads = await checked_token(core, "ann")
    ann = Recorder("ann")
    await core.sessions.login(ann, "ann", proof, checked_after=since)
    assert reads == [proof.token]  # the door's only (was the door's, then the login's)
    await core.membership.join(ann, "lobby")
    await core.messaging.send("ann", "lobby", "hello")
    assert "<ann> hello" in ann.texts()


async def test_a_logout_applied_since_the_doors_read_fails_the_login(core: Core) -> None:
    since, proof, reads = await checked_token(core, "ann")
    await core.store.delete_token(proof.token)  # the logout: committed, then applied here
    core.sessions.revoke(SessionsRevoked("ann", "you logged out", token=proof.token))
    ann = Recorder("ann")
    with pytest.raises(AuthenticationFailed):
        await core.sessions.login(ann, "ann", proof, checked_after=since)
    assert len(reads) == 2  # read again in full, once the count had moved
    assert core.subscriptions.presence("ann") is None  # not left attached
