"""/api/v1, rooms and messages: rooms and their members, room messages with history pages,
the read marker behind unread counts (the cursor `/receive` uses), private messages. A private
room the caller may not see answers 404 everywhere, as if it did not exist. Owners' and
admins' routes are in moderation.py."""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from torbit.core.comeback import Comeback
from torbit.core.delivery import message_json
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.models import Message, Room
from torbit.core.moderation import Moderation
from torbit.core.names import name_key
from torbit.core.roomdeletion import RoomDeletion
from torbit.frontends.http.auth import Principal
from torbit.frontends.http.classic import check_self, visitor_of
from torbit.frontends.http.errors import errors_doc
from torbit.frontends.http.schemas import (
    MAX_ID,
    NAME_SCHEMA,
    JoinIn,
    MemberList,
    MessageOut,
    MessagePage,
    ReadMarker,
    ReadMarkerIn,
    RoomOut,
    RoomPageOut,
    SendMessage,
    SendPrivate,
)
from torbit.metrics import Metrics

MAX_PAGE = 1000
ROOM_PAGE = 100

RoomName = Annotated[
    str, Path(description="A room's name (any case)", json_schema_extra=NAME_SCHEMA)
]
Member = Annotated[
    str, Path(description="Must be the authenticated user", json_schema_extra=NAME_SCHEMA)
]
MemberOrOther = Annotated[
    str,
    Path(
        description="The authenticated user (leave), or another member (kick: room admins)",
        json_schema_extra=NAME_SCHEMA,
    ),
]
Reason = Annotated[
    str,
    Query(
        description="Why (kick, ban, leave): cleaned as a message is; a kick's or ban's "
        "is cut to 255 bytes of UTF-8 (IRC's KICKLEN), never refused for its length"
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")]
Before = Annotated[
    int | None, Query(ge=0, le=MAX_ID, description="Only messages with a smaller id")
]
After = Annotated[
    int | None,
    Query(
        ge=0, le=MAX_ID, description="Only messages with a larger id; pages forward (oldest first)"
    ),
]


def room_out(room: Room, members: int, online: int) -> RoomOut:
    return RoomOut(
        name=room.name,
        topic=room.topic,
        topic_set_by=room.topic_set_by or None,
        topic_set_at=room.topic_set_at,
        owner=room.owner,
        private=room.private,
        created_at=room.created_at,
        members=members,
        online=online,
    )


def page(messages: list[Message], limit: int, after: int | None) -> JSONResponse:
    """A history page. Without `after` pages go backward from the newest, with it forward;
    a full page means there may be more in that direction."""
    full = len(messages) == limit
    return JSONResponse(
        {
            "messages": [message_json(m) for m in messages],
            "next_before": messages[0].id if full and after is None else None,
            "next_after": messages[-1].id if full and after is not None else None,
        }
    )


def rooms_router(
    membership: Membership,
    messaging: Messaging,
    moderation: Moderation,
    deletion: RoomDeletion,
    comeback: Comeback,
    metrics: Metrics,
    principal: Callable[..., Awaitable[Principal]],
    holds: Callable[[Principal], Awaitable[None]],
) -> APIRouter:
    """`holds`: Authenticator.holds, asked as a send acts (core/messaging.py's `Holds`)."""
    router = APIRouter(prefix="/api/v1")
    Caller = Annotated[Principal, Depends(principal)]
    sent = metrics.messages_in.labels(door="http")

    async def describe(name: str, caller: Principal) -> RoomOut:
        room = await membership.visible_room(caller.name, name)
        members = await membership.member_count(room)
        return room_out(room, members, membership.online_count(room.key))

    @router.get("/rooms", tags=["rooms"], summary="List rooms", responses=errors_doc(401, 422))
    async def rooms(
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size")] = ROOM_PAGE,
        after: Annotated[
            str | None,
            Query(
                description="Rooms after this name: the previous page's `next_after`",
                max_length=64,
            ),
        ] = None,
    ) -> RoomPageOut:
        """Every public room, and the private rooms the caller belongs or is invited to, a
        page at a time in name order. A page may hold fewer than `limit` rooms and still be
        followed by more: go on while `next_after` is not null. The rooms a page reads, shown
        or not, come out of the caller's read budget (`limits.read_rate`), ten for a message:
        429 only when nothing is left."""
        listed = await membership.rooms(
            caller.name, after=after and after.lower(), limit=limit, paid=True
        )
        return RoomPageOut(
            rooms=[room_out(i.room, i.members, i.online) for i in listed.rooms],
            next_after=listed.next_after,
        )

    @router.get(
        "/rooms/{room}", tags=["rooms"], summary="Get a room", responses=errors_doc(401, 404, 422)
    )
    async def room(room: RoomName, caller: Caller) -> RoomOut:
        return await describe(room, caller)

    @router.get(
        "/rooms/{room}/members",
        tags=["rooms"],
        summary="List a room's members",
        responses=errors_doc(401, 404, 422),
    )
    async def members(room: RoomName, caller: Caller, request: Request) -> MemberList:
        members, voiced = await membership.roster(
            room, viewer=caller.name, visitor=visitor_of(caller, request)
        )
        online = membership.online(name_key(room))
        return MemberList(
            members=members,
            voiced=voiced,
            online=online,
            away=membership.away(online),
            live=membership.presence_told(name_key(room)),
        )

    @router.put(
        "/rooms/{room}/members/{user}",
        tags=["rooms"],
        summary="Join a room",
        responses=errors_doc(401, 403, 404, 409, 422),
    )
    async def join(
        room: RoomName, user: Member, caller: Caller, request: Request, body: JoinIn | None = None
    ) -> RoomOut:
        """Become a member; the room is created if it does not exist. Idempotent. A private
        room needs an invitation (404 without); a ban is 403; a room with a join key needs
        it in the body (403 `bad_key` without), a full room is 403 `room_full`; a room it
        would create whose name reads like an existing room's is 409."""
        check_self(caller, user)
        join_key = body.key if body is not None else ""
        visitor = visitor_of(caller, request)
        joined = await membership.become_member(caller.name, room, join_key, visitor=visitor)
        await comeback.entered(caller.name, joined)  # where the caller comes back to
        return await describe(joined.key, caller)

    @router.delete(
        "/rooms/{room}",
        status_code=204,
        tags=["rooms"],
        summary="Delete a room",
        responses=errors_doc(401, 403, 404, 422),
    )
    async def delete_room(room: RoomName, caller: Caller) -> Response:
        """Delete the room with its memberships, invitations, bans, mutes, admins, read
        markers and messages: its owner or a server admin may (403 for anyone else who sees
        it, room admins too; 404 for a private room the caller may not see, and for the
        server's default room 403). Every live session in the room, on every door and node,
        leaves it at once and is told who deleted it (a WebSocket notice of kind
        `room_deleted`); a waiting `/receive` ends. A room made later under the name starts
        empty."""
        await deletion.delete(caller.name, room)
        return Response(status_code=204)

    @router.delete(
        "/rooms/{room}/members/{user}",
        status_code=204,
        tags=["rooms"],
        summary="Leave a room, or kick a member",
        responses=errors_doc(401, 403, 404, 409, 422),
    )
    async def leave(
        room: RoomName, user: MemberOrOther, caller: Caller, reason: Reason = ""
    ) -> Response:
        """For the caller: end the membership; the caller's live sessions stop listening to
        the room. For another user: a kick (room admins), which ends their membership and
        their live sessions' listening at once, on every node; the kicked user and the room
        are told the `reason` (a WebSocket notice's `detail`, IRC's KICK reason)."""
        if caller.key == user.lower():
            await membership.leave(caller.name, room, reason)
        else:
            await moderation.kick(caller.name, room, user, reason)
        return Response(status_code=204)

    @router.get(
        "/rooms/{room}/messages",
        tags=["messages"],
        response_model=MessagePage,
        summary="Room history",
        responses=errors_doc(401, 403, 404, 422),
    )
    async def history(
        room: RoomName,
        caller: Caller,
        request: Request,
        limit: Limit = 50,
        before: Before = None,
        after: After = None,
    ) -> JSONResponse:
        """Messages oldest first, ignored senders left out; members only. Without `after`,
        the newest `limit` before `before`; continue with `before=next_before`."""
        messages = await messaging.history(
            caller.name,
            room,
            limit=limit,
            before=before,
            after=after,
            visitor=visitor_of(caller, request),
        )
        return page(messages, limit, after)

    @router.post(
        "/rooms/{room}/messages",
        status_code=201,
        tags=["messages"],
        response_model=MessageOut,
        summary="Send a message to a room",
        responses=errors_doc(401, 403, 404, 413, 422),
    )
    async def send(
        room: RoomName, body: SendMessage, caller: Caller, request: Request
    ) -> JSONResponse:
        """Members only (and non-members of a public room whose `no_external` setting is
        off, unless banned or matching a ban mask; only admins in a moderated room);
        answers once the message is durable."""
        visitor = visitor_of(caller, request)
        message = await messaging.send(
            caller.name, room, body.text, visitor=visitor, holds=lambda: holds(caller)
        )
        sent.inc()
        return JSONResponse(message_json(message), status_code=201)

    @router.get(
        "/rooms/{room}/read-marker",
        tags=["messages"],
        summary="Unread count",
        responses=errors_doc(401, 403, 404, 422),
    )
    async def read_marker(room: RoomName, caller: Caller, request: Request) -> ReadMarker:
        """Where the caller's read cursor is (the one `GET /receive` moves) and how many
        messages lie after it; fetch them with `GET messages?after=last_read_id`."""
        return ReadMarker(
            last_read_id=await messaging.read_cursor(
                caller.name, room, visitor_of(caller, request)
            ),
            unread=await messaging.unread_count(caller.name, room),
        )

    @router.put(
        "/rooms/{room}/read-marker",
        tags=["messages"],
        summary="Mark messages read",
        responses=errors_doc(401, 403, 404, 422),
    )
    async def mark_read(
        room: RoomName, body: ReadMarkerIn, caller: Caller, request: Request
    ) -> ReadMarker:
        """Move the read cursor forward to `last_read_id` (it never moves backward)."""
        visitor = visitor_of(caller, request)
        await messaging.mark_read(caller.name, room, body.last_read_id, visitor)
        return await read_marker(room, caller, request)

    @router.get(
        "/private-messages",
        tags=["private messages"],
        response_model=MessagePage,
        summary="Private message history",
        responses=errors_doc(401, 422),
    )
    async def private_history(
        caller: Caller, limit: Limit = 50, before: Before = None, after: After = None
    ) -> JSONResponse:
        """Messages sent to and by the caller, paged like room history."""
        messages = await messaging.private_history(
            caller.name, limit=limit, before=before, after=after
        )
        return page(messages, limit, after)

    @router.post(
        "/private-messages",
        status_code=201,
        tags=["private messages"],
        response_model=MessageOut,
        summary="Send a private message",
        responses=errors_doc(401, 404, 413, 422),
    )
    async def send_private(body: SendPrivate, caller: Caller) -> JSONResponse:
        message = await messaging.send_private(
            caller.name, body.to, body.text, holds=lambda: holds(caller)
        )
        sent.inc()
        return JSONResponse(message_json(message), status_code=201)

    return router
