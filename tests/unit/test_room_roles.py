"""Rooms with owners without I/O: the policy's roles as the telnet command table shows them, a user's role and what they may
see from their standing, and the in-memory mute list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from torbit.core.models import Role, Room, Standing
from torbit.core.mutes import Mutes
from torbit.errors import Forbidden
from torbit.frontends.telnet.commands import COMMANDS, help_lines, parse_command

T = datetime(2026, 11, 28, 15, 4, 5, tzinfo=UTC)
PUBLIC = Room(name="Hall", created_at=T, owner="Alice")
PRIVATE = Room(name="Den", created_at=T, owner="Alice", private=True)


def test_every_moderation_command_needs_a_room_role() -> None:
    admins = {
        "invite",
        "kick",
        "ban",
        "unban",
        "mute",
        "unmute",
        "voice",
        "devoice",
        "topic",
        "audit",
        "except",
        "unexcept",
        "invex",
        "uninvex",
    }
    owners = {"op", "deop", "private", "delroom"}
    assert {c.name for c in COMMANDS.values() if c.role is Role.ADMIN} == admins
    assert {c.name for c in COMMANDS.values() if c.role is Role.OWNER} == owners
    assert COMMANDS["create"].role is Role.NONE and COMMANDS["join"].role is Role.NONE
    assert parse_command("/mute bob 10")[1] == ("bob", "10")
    assert parse_command("/topic a  b c")[1] == ("a  b c",)
    assert parse_command("/topic")[1] == ()
    assert parse_command("/create den private")[1] == ("den", "private")
    line = next(h for h in help_lines() if h.startswith("/ban "))
    assert line.endswith("(room admins)")


@pytest.mark.parametrize(
    ("standing", "user", "role"),
    [
        (Standing(), "bob", Role.NONE),
        (Standing(invited=True), "bob", Role.NONE),
        (Standing(member=True), "bob", Role.MEMBER),
        (Standing(member=True, admin=True), "bob", Role.ADMIN),
        (Standing(admin=True), "bob", Role.NONE),  # rights lapse with the membership
        (Standing(), "alice", Role.OWNER),  # the owner stays owner, member or not
        (Standing(member=True, admin=True), "alice", Role.OWNER),
        (Standing(server_admin=True), "root", Role.SERVER_ADMIN),
    ],
)
def test_roles_rank(standing: Standing, user: str, role: Role) -> None:
    assert standing.role(PUBLIC, user) is role
    assert standing.may_see(PUBLIC, user)
    assert standing.may_see(PRIVATE, user) == (role >= Role.MEMBER or standing.invited)


def test_ranks_are_ordered() -> None:
    assert Role.NONE < Role.MEMBER < Role.ADMIN < Role.OWNER < Role.SERVER_ADMIN
    assert Role.OWNER.label == "the room's owner"


def test_mutes_expire_by_themselves() -> None:
    mutes = Mutes()
    hall, den = Room("Hall", T), Room("den", T)
    mutes.check(hall, "bob", T)
    mutes.set("hall", "bob", T + timedelta(minutes=2))
    with pytest.raises(Forbidden, match="muted in #Hall for 2 more minute"):
        mutes.check(hall, "bob", T)
    with pytest.raises(Forbidden, match="for 1 more minute"):
        mutes.check(hall, "bob", T + timedelta(seconds=61))
    mutes.check(den, "bob", T)  # other rooms are fine
    mutes.check(hall, "carol", T)
    mutes.check(hall, "bob", T + timedelta(minutes=2))  # over
    assert len(mutes) == 1  # forgotten only once the store's clock read says so
    mutes.clock.observe(T + timedelta(minutes=2), 0.0)
    assert len(mutes) == 0
    mutes.set("hall", "bob", T + timedelta(hours=1))
    mutes.set("hall", "bob", None)
    mutes.check(hall, "bob", T)
