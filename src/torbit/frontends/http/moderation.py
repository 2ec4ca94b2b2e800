"""/api/v1, rooms with owners: creating rooms, invitations, bans, mutes, room admins, voices,
topic and privacy, the audit log, and the caller's own rooms. Kicking is `DELETE members/{user}` in
rooms.py (the same route as leaving); a kick and a ban take an optional `?reason=`. Each route
only parses, authenticates and calls Moderation, which checks the role the command table asks
for."""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from torbit.core.banmasks import EXCEPT, INVEX, MAX_MASK_LENGTH
from torbit.core.membership import Membership
from torbit.core.models import Room
from torbit.core.moderation import Moderation
from torbit.core.roomsettings import SettingsChange
from torbit.frontends.http.auth import Principal
from torbit.frontends.http.classic import visitor_of
from torbit.frontends.http.errors import errors_doc
from torbit.frontends.http.rooms import Reason, RoomName, room_out
from torbit.frontends.http.schemas import (
    NAME_SCHEMA,
    AuditEntryOut,
    AuditList,
    BanList,
    BanMaskOut,
    InvitationList,
    InvitationOut,
    InviteIn,
    MuteIn,
    MuteOut,
    RoomCreate,
    RoomList,
    RoomOut,
    RoomPatch,
    RoomSettingsOut,
    RoomSettingsPatch,
)

Mask = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_MASK_LENGTH,
        description="A ban mask nick!user@host, * and ? wildcards (a plain name: name!*@*)",
    ),
]
ExceptionKind = Annotated[
    Literal["ban", "invite"],
    Query(description="ban: no ban mask bars whoever matches; invite: whoever matches may join"
          " the private room uninvited"),
]  # fmt: skip
KINDS = {"ban": EXCEPT, "invite": INVEX}
UserName = Annotated[
    str, Path(description="The user acted upon (any case)", json_schema_extra=NAME_SCHEMA)
]
ACTED = errors_doc(401, 403, 404, 422)
TAGS: list[str | Enum] = ["moderation"]


def settings_out(room: Room) -> RoomSettingsOut:
    s = room.settings
    return RoomSettingsOut(
        join_key=s.join_key,
        member_limit=s.member_limit,
        topic_lock=s.topic_lock,
        no_external=s.no_external,
        moderated=s.moderated,
        private=room.private,
    )


def moderation_router(
    membership: Membership, moderation: Moderation, principal: Callable[..., Awaitable[Principal]]
) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    Caller = Annotated[Principal, Depends(principal)]

    async def describe(room: Room, caller: Principal) -> RoomOut:
        members = await membership.member_count(room)
        return room_out(room, members, membership.online_count(room.key))

    def done() -> Response:
        return Response(status_code=204)

    def on_member(
        method: str,
        what: str,
        act: Callable[[str, str, str], Awaitable[str]],
        summary: str,
        doc: str = "",
        responses: dict[int | str, dict[str, object]] = ACTED,
    ) -> None:
        """A route `/rooms/{room}/WHAT/{user}` that does one thing to a user in a room
        (`act(caller, room, user)`, a Moderation method of that name) and answers 204."""

        async def route(room: RoomName, user: UserName, caller: Caller) -> Response:
            await act(caller.name, room, user)
            return done()

        router.add_api_route(
            f"/rooms/{{room}}/{what}/{{user}}",
            route,
            methods=[method],
            name=act.__name__,
            tags=TAGS,
            status_code=204,
            summary=summary,
            description=doc,
            responses=responses,
        )

    @router.post(
        "/rooms",
        tags=TAGS,
        status_code=201,
        summary="Create a room",
        responses=errors_doc(401, 403, 409, 422),
    )
    async def create(body: RoomCreate, caller: Caller) -> RoomOut:
        """A new room owned by the caller, who becomes its first member. A private room is
        invite-only: only members and invitees can see, join or read it."""
        return await describe(await moderation.create(caller.name, body.name, body.private), caller)

    @router.patch(
        "/rooms/{room}", tags=TAGS, summary="Change a room's topic or privacy", responses=ACTED
    )
    async def patch(room: RoomName, body: RoomPatch, caller: Caller) -> RoomOut:
        """The topic needs a room admin, privacy the owner; nothing changes unless the caller
        may make every change asked for."""
        updated = await moderation.update(caller.name, room, topic=body.topic, private=body.private)
        return await describe(updated, caller)

    @router.get(
        "/rooms/{room}/settings",
        tags=TAGS,
        summary="A room's settings",
        responses=errors_doc(401, 403, 404, 422),
    )
    async def get_settings(room: RoomName, caller: Caller, request: Request) -> RoomSettingsOut:
        """Members only: the join key is a secret of the room's members. A client a ban mask
        matches is refused, as by every read, and a member so matched is put out."""
        visitor = visitor_of(caller, request)
        return settings_out(await moderation.room_settings(caller.name, room, visitor))

    @router.patch(
        "/rooms/{room}/settings",
        tags=TAGS,
        summary="Change a room's settings",
        responses=ACTED,
    )
    async def patch_settings(
        room: RoomName, body: RoomSettingsPatch, caller: Caller
    ) -> RoomSettingsOut:
        """Join key, member limit, topic lock, outside messages, moderation (room admins)
        and privacy (the owner), in one change told to the room in one notice."""
        change = SettingsChange(**body.model_dump())
        updated, _ = await moderation.configure(caller.name, room, change)
        return settings_out(updated)

    @router.post(
        "/rooms/{room}/invites",
        tags=TAGS,
        status_code=204,
        summary="Invite a user",
        responses=errors_doc(401, 403, 404, 409, 422),
    )
    async def invite(room: RoomName, body: InviteIn, caller: Caller) -> Response:
        """Room admins: the user may then join the (private) room; they are told if online."""
        await moderation.invite(caller.name, room, body.user)
        return done()

    @router.get(
        "/me/invites", tags=TAGS, summary="My pending invitations", responses=errors_doc(401)
    )
    async def my_invites(caller: Caller) -> InvitationList:
        """Newest first (at most 100); none from users you ignore. Past
        `limits.invites_per_user` one is dropped: first one from a user you ignore, else the
        oldest of the inviter holding the most (docs/security.md)."""
        pending = await moderation.invitations(caller.name)
        return InvitationList(
            invitations=[InvitationOut(room=p.room, by=p.by, at=p.at) for p in pending]
        )

    @router.delete(
        "/me/invites/{room}",
        tags=TAGS,
        status_code=204,
        summary="Decline an invitation",
        responses=errors_doc(401, 404, 422),
    )
    async def decline(room: RoomName, caller: Caller) -> Response:
        """Remove your invitation to the room; nobody is told. 404 if you have none."""
        await moderation.decline(caller.name, room)
        return done()

    @router.put(
        "/rooms/{room}/bans/{user}",
        tags=TAGS,
        status_code=204,
        summary="Ban a user",
        responses=ACTED,
    )
    async def ban(room: RoomName, user: UserName, caller: Caller, reason: Reason = "") -> Response:
        """Room admins: the user leaves at once (live sessions too) and cannot join again;
        they and the room are told the `reason`."""
        await moderation.ban(caller.name, room, user, reason)
        return done()

    on_member("DELETE", "bans", moderation.unban, "Lift a ban")

    @router.get(
        "/rooms/{room}/bans",
        tags=TAGS,
        summary="List a room's bans",
        responses=errors_doc(401, 403, 404, 422),
    )
    async def bans(room: RoomName, caller: Caller, request: Request) -> BanList:
        """Members: the accounts banned, the ban masks, the ban exceptions and the invite
        exceptions, with who set them and when (not to a client a ban mask matches)."""
        visitor = visitor_of(caller, request)
        names = [b for b in await moderation.bans(caller.name, room, visitor) if "!" not in b]
        masks = await moderation.ban_masks(caller.name, room)
        out = [BanMaskOut(mask=m.mask, set_by=m.set_by, set_at=m.set_at) for m in masks]
        lists = [
            [
                BanMaskOut(mask=m.mask, set_by=m.set_by, set_at=m.set_at)
                for m in await moderation.exception_masks(caller.name, room, kind)
            ]
            for kind in (EXCEPT, INVEX)
        ]
        return BanList(users=names, masks=out, exceptions=lists[0], invite_exceptions=lists[1])

    @router.put(
        "/rooms/{room}/banmasks",
        tags=TAGS,
        status_code=204,
        summary="Ban a mask",
        responses=errors_doc(401, 403, 404, 409, 422),
    )
    async def ban_mask(room: RoomName, mask: Mask, caller: Caller, reason: Reason = "") -> Response:
        """Room admins: no client matching `?mask=` joins, and the matching members online
        now are put out (the room's owner, admins and server admins excepted). At most 100
        masks a room (409 `list_full`). Idempotent."""
        await moderation.ban_mask(caller.name, room, mask, reason)
        return done()

    @router.delete(
        "/rooms/{room}/banmasks",
        tags=TAGS,
        status_code=204,
        summary="Lift a ban mask",
        responses=ACTED,
    )
    async def unban_mask(room: RoomName, mask: Mask, caller: Caller) -> Response:
        await moderation.unban_mask(caller.name, room, mask)
        return done()

    @router.put(
        "/rooms/{room}/exceptions",
        tags=TAGS,
        status_code=204,
        summary="Add a ban or invite exception",
        responses=errors_doc(401, 403, 404, 409, 422),
    )
    async def except_mask(
        room: RoomName, mask: Mask, caller: Caller, kind: ExceptionKind = "ban"
    ) -> Response:
        """Room admins: `kind=ban`, no ban mask bars a client matching `?mask=` (an
        account's own ban still does); `kind=invite`, such a client may join the room while
        it is private, uninvited. At most 100 of each kind a room (409 `list_full`).
        Idempotent."""
        await moderation.except_mask(caller.name, room, mask, KINDS[kind])
        return done()

    @router.delete(
        "/rooms/{room}/exceptions",
        tags=TAGS,
        status_code=204,
        summary="Lift a ban or invite exception",
        responses=ACTED,
    )
    async def unexcept_mask(
        room: RoomName, mask: Mask, caller: Caller, kind: ExceptionKind = "ban"
    ) -> Response:
        """Room admins: lifting a ban exception puts out the members online that a ban
        mask then bars."""
        await moderation.unexcept_mask(caller.name, room, mask, KINDS[kind])
        return done()

    @router.put("/rooms/{room}/mutes/{user}", tags=TAGS, summary="Mute a user", responses=ACTED)
    async def mute(room: RoomName, user: UserName, body: MuteIn, caller: Caller) -> MuteOut:
        """Room admins: the user cannot send to the room (403) until `until`."""
        until = await moderation.mute(caller.name, room, user, body.minutes)
        return MuteOut(room=room.lower(), user=user.lower(), until=until)

    on_member("DELETE", "mutes", moderation.unmute, "Lift a mute")
    on_member(
        "PUT",
        "admins",
        moderation.op,
        "Make a room admin",
        "The owner: a member becomes a room admin.",
        errors_doc(401, 403, 404, 409, 422),
    )
    on_member("DELETE", "admins", moderation.deop, "Take room admin rights away")
    on_member(
        "PUT",
        "voices",
        moderation.voice,
        "Give a member a voice",
        "Room admins: the member may send while the room is moderated, until the voice is\n"
        "taken or the membership ends (leave, kick, ban).",
        errors_doc(401, 403, 404, 409, 422),
    )
    on_member(
        "DELETE",
        "voices",
        moderation.devoice,
        "Take a member's voice away",
        "Room admins; a member may give up their own voice. Their next message to the\n"
        "moderated room is refused (403), on every door.",
        errors_doc(401, 403, 404, 409, 422),
    )

    @router.get("/rooms/{room}/audit", tags=TAGS, summary="A room's audit log", responses=ACTED)
    async def audit(
        room: RoomName,
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=1000, description="Page size")] = 100,
    ) -> AuditList:
        """Room admins: the newest moderation actions in the room, newest first."""
        entries = await moderation.audit(caller.name, room, limit)
        return AuditList(
            entries=[
                AuditEntryOut(
                    id=e.id or 0,
                    at=e.at,
                    actor=e.actor,
                    action=e.action,
                    room=e.room,
                    target=e.target,
                    detail=e.detail,
                )
                for e in entries
            ]
        )

    @router.get(
        "/me/rooms", tags=["rooms"], summary="The rooms I am a member of", responses=errors_doc(401)
    )
    async def my_rooms(caller: Caller) -> RoomList:
        return RoomList(
            rooms=[
                room_out(i.room, i.members, i.online)
                for i in await membership.my_rooms(caller.name)
            ]
        )

    return router
