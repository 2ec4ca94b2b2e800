"""A session opened with a token its door has just read in the store (a WebSocket's
handshake): the login does not read the token again, and a revocation applied on this node
since the door's read still closes it (core/sessions.py, `checked_after`)."""

from __future__ import annotations

import asyncio
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


async def test_a_token_session_holding_the_new_credential_is_closed_once_its_token_is_gone(
    core: Core,
) -> None:
    """The race a password change leaves: the door read the token before the change deleted
    it and the user after the change wrote the new credential, so the session holds the new
    credential and a deleted token, and the revocation (of the old credential) does not name
    it. Its token is read again and, gone, the session is closed; a session whose token still
    holds (a login after the change) stays."""
    since, proof, _ = await checked_token(core, "ann")
    old = await core.store.get_user("ann")
    assert old is not None
    await core.store.set_password_hash("ann", old.password_hash, credential="old-credential")
    await core.store.set_password_hash("ann", old.password_hash, credential="new-credential")
    raced = Recorder("ann")
    raced_proof = Proof("new-credential", proof.token)
    await core.sessions.login(raced, "ann", raced_proof, checked_after=since)
    issued = await Tokens(core.store, timedelta(hours=1)).issue("ann")  # after the change
    later = Proof("new-credential", token_hash(issued.token))
    after = Recorder("ann")
    await core.sessions.login(after, "ann", later)
    await core.store.delete_token(proof.token)  # the change deletes the tokens it found

    closed = core.sessions.revoke(
        SessionsRevoked("ann", "your password was changed", credential="old-credential")
    )
    assert closed == 0  # neither holds the old credential
    for _ in range(50):
        if raced.closed is not None:
            break
        await asyncio.sleep(0.01)
    assert raced.closed is not None and "your password was changed" in raced.closed
    assert after.closed is None
    assert core.subscriptions.sessions_of("ann") == [after]
