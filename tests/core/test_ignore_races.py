"""An ignore made while one of the user's sessions is logging in: the login read the ignore
list just before it, and no session of the user was here yet to be told of the change. The
interleaving is forced: the real store's read of the user and their list returns, then the
ignore is made (committed and applied on this node), then the login goes on."""

from __future__ import annotations

from typing import Any

from tests.core.conftest import Core, Recorder
from torbit.core.sessions import Proof


async def test_an_ignore_made_during_a_login_holds_for_the_new_session(core: Core) -> None:
    await core.user("ann")
    await core.user("bob")
    bob = await core.login("bob")
    store = core.store
    read = store.user_and_ignores
    made: list[str] = []

    async def racing(key: str) -> Any:
        answer = await read(key)
        if not made:
            made.append(await core.ignores.ignore("ann", "bob"))
        return answer

    store.user_and_ignores = racing  # type: ignore[method-assign]
    ann = Recorder("ann")
    user = await store.get_user("ann")
    assert user is not None
    await core.sessions.login(ann, "ann", Proof(user.credential))
    assert made == ["bob"]
    assert ann.ignores == {"bob"}
    await core.membership.join(ann, "lobby")
    await core.messaging.send("bob", "lobby", "can you hear me?")
    await core.messaging.send_private("bob", "ann", "psst")
    assert ann.texts() == []
    assert "<bob> can you hear me?" in bob.texts()
    # a second session of ann's shares the list it found
    again = await core.login("ann")
    assert again.ignores == {"bob"}
