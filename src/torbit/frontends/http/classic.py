"""The original system's two routes: `POST /send/{room}/{user}` and
`GET /receive/{room}/{user}`. As in the original, any registered user may use any public
room: both routes make the caller a member first. They create no room but the server's
default room, which belongs to no one: an unknown room is 404 (rooms are created by
telnet's /join and /create, `PUT /api/v1/rooms/{room}/members/{user}` and
`POST /api/v1/rooms`), so a forged request cannot make one. Private rooms are 404 to
a non-member without an invitation, as if they did not exist. Both routes refuse requests a
browser sends from another site's page (origins.py): `GET /receive` moves a read cursor."""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from torbit.core.banmasks import Visitor
from torbit.core.delivery import message_json, page_json
from torbit.core.membership import Membership
from torbit.core.messaging import Messaging
from torbit.core.names import name_key
from torbit.errors import Forbidden, InvalidInput, NotFound
from torbit.frontends.http.auth import Authenticator, Principal, client_address
from torbit.frontends.http.errors import errors_doc
from torbit.frontends.http.lean import LeanRoute, runs
from torbit.frontends.http.longpoll import MAX_WAIT_SECONDS, Receiver
from torbit.frontends.http.schemas import NAME_SCHEMA, MessageList, MessageOut, SendMessage
from torbit.metrics import Metrics

MAX_RECEIVE = 1000

_SEND_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": 'The message: the whole body as UTF-8 text, or JSON `{"text": ...}`',
        "content": {
            "text/plain": {"schema": {"type": "string"}, "example": "hello"},
            "application/json": {"schema": {"$ref": "#/components/schemas/SendMessage"}},
        },
    }
}

RoomPath = Annotated[
    str,
    Path(
        description="An existing room's name; the caller becomes a member of a public room",
        json_schema_extra=NAME_SCHEMA,
    ),
]
UserPath = Annotated[
    str, Path(description="Must be the authenticated user", json_schema_extra=NAME_SCHEMA)
]


async def read_text(request: Request) -> str:
    """The message in a classic send body: JSON {"text": ...} or the raw text. The body size
    is bounded by the BodyLimit middleware while it streams in."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if mime == "application/json" or mime.endswith("+json"):
        try:
            return SendMessage.model_validate_json(bytes(body)).text
        except ValidationError as e:
            raise RequestValidationError(e.errors(include_url=False)) from None
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the message is not UTF-8 text") from None


def plain_number(
    value: str | None, default: float, low: float, high: float, *, integer: bool
) -> float | None:
    """A query parameter's value when it is absent (the default) or plain ASCII digits (with
    one decimal point unless `integer`) within [low, high]; else None: only FastAPI's
    validation may judge it (and word its 422)."""
    if value is None:
        return default
    whole, dot, fraction = value.partition(".")
    if not (whole.isascii() and whole.isdigit()) or len(value) > 12:
        return None
    if dot and (integer or not (fraction.isascii() and fraction.isdigit())):
        return None
    number = int(value) if integer else float(value)
    return number if low <= number <= high else None


def visitor_of(caller: Principal, request: Request) -> Visitor:
    """The request's client as ban masks see it (core/banmasks.py): every route that reads
    or writes a room has it matched against the room's masks (core/maskgate.py)."""
    return Visitor(caller.name, caller.name.lower(), client_address(request))


async def _left(request: Request) -> None:
    """Returns once the request's client has gone (ASGI's `http.disconnect`; a body sent
    with it is read and dropped): a parked long poll's slots go back then (longpoll.py)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def check_self(caller: Principal, user: str) -> None:
    if caller.key != name_key(user):
        raise Forbidden(f"authenticated as {caller.name}: you cannot act as {user[:40]!r}")


MAKE_A_ROOM = "rooms are made with POST /api/v1/rooms or telnet's /join"


def classic_router(
    membership: Membership,
    messaging: Messaging,
    receiver: Receiver,
    metrics: Metrics,
    auth: Authenticator,
    principal: Callable[..., Awaitable[Principal]],
) -> APIRouter:
    router = APIRouter(tags=["classic"], route_class=LeanRoute)
    Caller = Annotated[Principal, Depends(principal)]
    sent = metrics.messages_in.labels(door="http")

    default_key = name_key(membership.rules.default_room)

    async def enter(user: str, room_name: str, visitor: Visitor) -> str:
        """The room's key, the user being a member; NotFound if there is no such room (but
        the server's default room, which belongs to no one, is made on first use). A
        membership this node knows of asks the store nothing (core/membercache.py). The
        client is matched against the room's ban masks on every request, member or not
        (core/maskgate.py): a room without masks costs a dict lookup. A 404 says how rooms
        are made: the original system made one on first use, so its users try that."""
        try:
            known = membership.known.room(name_key(user), name_key(room_name))
            if known is not None:
                await membership.check_visitor(user, known, visitor)
                return known.key
            try:
                room = await membership.room(room_name)
            except NotFound:
                if name_key(room_name) != default_key:
                    raise
                default = membership.rules.default_room
                return (await membership.become_member(user, default, visitor=visitor)).key
            if await membership.is_member(user, room.key):
                await membership.check_visitor(user, room, visitor)
                return room.key
            # these routes make no room: a free name is a NotFound that costs nothing, so a
            # private room one may not see must be too (charged, it told them apart)
            return (
                await membership.become_member(user, room.name, visitor=visitor, makes_rooms=False)
            ).key
        except NotFound as missing:  # the same words for a room one may not see
            raise NotFound(f"{missing}: {MAKE_A_ROOM}") from None

    async def publish(room: str, user: str, request: Request, caller: Principal) -> JSONResponse:
        check_self(caller, user)
        text = await read_text(request)
        await auth.confirm(caller)  # not revoked while its password was checked (`answer`)
        key = await enter(caller.name, room, visitor_of(caller, request))
        message = await messaging.send(caller.name, key, text, holds=lambda: auth.holds(caller))
        sent.inc()
        return JSONResponse(message_json(message), status_code=201)

    async def lean_send(request: Request) -> JSONResponse:
        """`send` as FastAPI would run it, without its dependency solving (lean.py)."""
        caller = await auth.authorization(
            request.headers.get("authorization"), client_address(request)
        )
        params = request.path_params
        return await publish(params["room"], params["user"], request, caller)

    @router.post(
        "/send/{room}/{user}",
        status_code=201,
        response_model=MessageOut,
        summary="Send a message to a room (classic)",
        responses=errors_doc(401, 403, 404, 413, 422),
        openapi_extra=_SEND_BODY,
    )
    @runs(lean_send)
    async def send(
        room: RoomPath, user: UserPath, request: Request, caller: Caller
    ) -> JSONResponse:
        """Publish the body as a message from `user` to `room`; answers once it is durable."""
        return await publish(room, user, request, caller)

    async def answer(
        room: str, user: str, request: Request, caller: Principal, limit: int, wait: float
    ) -> Response:
        check_self(caller, user)
        # no revocation since its check began took its login away (a password changed or
        # an account deleted while argon2 ran): asked before the room is entered (which may
        # make a member) and the page read (which moves the cursor)
        await auth.confirm(caller)
        visitor = visitor_of(caller, request)
        key = await enter(caller.name, room, visitor)
        messages = await receiver.receive(
            caller.name, key, limit, wait, visitor.host, caller, visitor, partial(_left, request)
        )
        return Response(page_json(messages), media_type="application/json")

    async def lean_receive(request: Request) -> Response | None:
        """`receive` as FastAPI would run it, without its dependency solving and query
        validation (lean.py); declined (FastAPI runs it) when `limit` or `wait` is not
        plainly valid, so every 422 stays FastAPI's."""
        query = request.query_params
        limit = plain_number(query.get("limit"), 100, 1, MAX_RECEIVE, integer=True)
        wait = plain_number(query.get("wait"), 0, 0, MAX_WAIT_SECONDS, integer=False)
        if limit is None or wait is None:
            return None
        caller = await auth.authorization(
            request.headers.get("authorization"), client_address(request)
        )
        params = request.path_params
        return await answer(params["room"], params["user"], request, caller, int(limit), wait)

    @router.get(
        "/receive/{room}/{user}",
        response_model=MessageList,
        summary="Receive new messages of a room (classic)",
        responses=errors_doc(401, 403, 404, 422, 429),
    )
    @runs(lean_receive)
    async def receive(
        room: RoomPath,
        user: UserPath,
        request: Request,
        caller: Caller,
        limit: Annotated[int, Query(ge=1, le=MAX_RECEIVE, description="At most this many")] = 100,
        wait: Annotated[
            float,
            Query(
                ge=0,
                le=MAX_WAIT_SECONDS,
                description="Seconds to wait for a first message when there is none",
            ),
        ] = 0,
    ) -> Response:
        """The room's messages this user has not yet received through this route, oldest
        first, ignored senders left out. The read cursor moves over what is returned, so the
        next call returns only newer messages; a user's first call starts at the oldest
        message still retained."""
        return await answer(room, user, request, caller, limit, wait)

    return router
