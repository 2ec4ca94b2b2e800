"""Which role each action needs in the room it acts on, checked once in the core whichever
door asked. Front doors read it to show roles in their help; they never check it themselves."""

from __future__ import annotations

from torbit.core.models import Role, Room, Standing
from torbit.errors import Forbidden, NotFound

M, ADM, OWN = Role.MEMBER, Role.ADMIN, Role.OWNER

ACTIONS: dict[str, Role] = {
    "who": M,
    "me": M,
    "history": M,
    "bans": M,
    "view_settings": M,  # a room's settings, its join key among them
    "invite": ADM,
    "kick": ADM,
    "ban": ADM,
    "unban": ADM,
    "except": ADM,  # a ban exception (core/banmasks.py)
    "unexcept": ADM,
    "invex": ADM,  # an invite exception
    "uninvex": ADM,
    "mute": ADM,
    "voice": ADM,  # let a member speak in a moderated room
    "devoice": ADM,
    "unmute": ADM,
    "topic": ADM,
    "topic_open": M,  # the topic of a room whose topic lock is off (core/roomsettings.py)
    "settings": ADM,  # join key, member limit, topic lock, no_external, moderated
    "audit": ADM,
    "op": OWN,
    "deop": OWN,
    "private": OWN,
    "delroom": OWN,  # delete the room (core/roomdeletion.py): room admins may not
}

_WHO = {Role.MEMBER: "members", Role.ADMIN: "room admins", Role.OWNER: "the owner"}
_SHOWN = {"topic_open": "topic", "view_settings": "set", "settings": "set"}
_HELP = {Role.ADMIN: "room admins", Role.OWNER: "room owner"}


def needed(action: str) -> Role:
    """The role an action needs; actions not listed need none."""
    return ACTIONS.get(action, Role.NONE)


def who_may(action: str) -> str:
    """'room admins' or 'room owner' for help texts; '' when any member may."""
    return _HELP.get(needed(action), "")


def check(role: Role, action: str, room_name: str) -> None:
    """Raise Forbidden unless `role` may do `action` in the room."""
    required = needed(action)
    if role < required:
        raise Forbidden(
            f"only {_WHO.get(required, required.label)} of #{room_name} "
            f"may /{_SHOWN.get(action, action)}: you are {role.label}"
        )


def check_roster(standing: Standing, room: Room, user_key: str) -> None:
    """Who may list a room's members (IRC NAMES and WHO #room, telnet /who, GET
    .../members): in a public room anyone, as on IRC for a channel without +s/+p; in a
    private room those who may see it ("no such room" to others). A ban takes this away
    too, as every right in the room (Forbidden): the roster names every member, online or
    not, with their away messages, and the ban is a room's answer to someone who harasses
    its people. Server admins, whom no room bans, always may."""
    if not standing.may_see(room, user_key):
        raise NotFound(f"no such room #{room.name}")
    if standing.banned and not standing.server_admin:
        raise Forbidden(f"you are banned from #{room.name}")
