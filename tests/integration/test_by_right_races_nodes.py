"""A server admin's demotion on one node and the room's invitation that admits her on
another, at once, on Cassandra (cassright60, docs/security.md). dave, a server admin, is in
alice's private room by that right alone; the operator takes the right away on node a while
alice invites him by HTTP on node b, which admits him (his membership made ordinary, kept
past the demotion). The demotion's removal read the flag, then ended the membership: an
admission landing between the two was overtaken, and alice was answered 204 while dave was
left with neither the membership nor an invitation. As on SQL, either the admission comes
first (dave stays a member) or the demotion does (the invitation is an ordinary one)."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers.http import PASSWORD
from tests.helpers.moderation import api, services
from tests.scale.conftest import STORES, NodeFactory, race_bursts

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("patient_settling")]
ROUNDS = 8
LIMITS = race_bursts(ROUNDS)


@pytest.mark.parametrize("scale_store", [STORES[1]])  # cassandra
async def test_an_admission_raced_by_a_demotion_on_another_node_is_never_lost(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("a", limits=LIMITS), await make_node("b", limits=LIMITS)
    for name in ("alice", "dave"):
        await services(a).accounts.register(name, PASSWORD)
    store = services(a).store
    lost, outcomes = 0, []
    async with api(b, "alice") as alice:
        for i in range(ROUNDS):
            room = f"den{i}"
            await services(a).moderation.create("alice", room, private=True)
            await services(a).accounts.set_admin("dave", True)
            await services(a).membership.become_member("dave", room)
            assert await store.rooms_joined_by_right("dave") == [room]
            invited, _ = await asyncio.gather(
                alice.post(f"/api/v1/rooms/{room}/invites", json={"user": "dave"}),
                services(a).accounts.set_admin("dave", False),
            )
            assert invited.status_code in (204, 409), invited.text
            dave = await store.standing(room, "dave")
            outcome = "member" if dave.member else "invited" if dave.invited else "nothing"
            outcomes.append((invited.status_code, outcome))
            lost += invited.status_code == 204 and outcome == "nothing"
    print(f"{ROUNDS} rounds, (answer, dave's standing): {outcomes}; admission lost: {lost}")
    assert lost == 0
