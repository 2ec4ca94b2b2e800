"""/api/v1, accounts part: registration, sessions (bearer tokens), the caller's own account,
ignore list and away state. Rooms and messages are in `rooms.py`."""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from torbit.core.accounts import Accounts
from torbit.core.away import Away
from torbit.core.comeback import Comeback
from torbit.core.ignores import Ignores
from torbit.core.models import User
from torbit.core.names import name_key
from torbit.core.subscriptions import Subscriptions
from torbit.frontends.http.auth import Authenticator, Principal, client_address
from torbit.frontends.http.errors import errors_doc
from torbit.frontends.http.schemas import (
    NAME_SCHEMA,
    AwayOut,
    AwaySet,
    Credentials,
    IgnoreList,
    MeOut,
    PasswordChange,
    ServerOut,
    TokenOut,
    UserOut,
)

log = logging.getLogger("torbit.http")

UserName = Annotated[
    str, Path(description="A user's name (any case)", json_schema_extra=NAME_SCHEMA)
]


def user_out(user: User) -> UserOut:
    return UserOut(name=user.name, created_at=user.created_at, is_admin=user.is_admin)


def accounts_router(
    accounts: Accounts,
    ignore_lists: Ignores,
    away: Away,
    subscriptions: Subscriptions,
    comeback: Comeback,
    default_room: str,
    auth: Authenticator,
    principal: Callable[..., Awaitable[Principal]],
) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    Caller = Annotated[Principal, Depends(principal)]

    @router.get("/server", tags=["accounts"], summary="What the server allows before login")
    async def server() -> ServerOut:
        """Whether registration is open, for a login form to offer it or not (no login
        needed; the telnet greeting and IRC's CAP list tell anyone as much). `POST
        /api/v1/users` still refuses a registration when it is closed."""
        return ServerOut(registration="open" if accounts.registration_open else "closed")

    @router.post(
        "/users",
        status_code=201,
        tags=["accounts"],
        summary="Register",
        responses=errors_doc(403, 409, 422, 429),
    )
    async def register(body: Credentials, request: Request) -> UserOut:
        """Create an account (403 when the server's registration is closed). A name must start
        and end with a letter or digit, not be reserved, and not read like a taken name (409);
        registrations are limited per address and overall (429), and answered 503 at once
        when the server is too busy hashing passwords."""
        client = client_address(request)
        account = await auth.register(body.name, body.password, client)
        log.info("registered %s over HTTP from %s", account.name, client)
        return user_out(account)

    @router.post(
        "/sessions",
        status_code=201,
        tags=["accounts"],
        summary="Log in: get a bearer token",
        responses=errors_doc(401, 422),
    )
    async def login(body: Credentials, request: Request) -> TokenOut:
        """A new random token for `Authorization: Bearer`, valid until `expires_at` or until
        logged out. Repeated failures back off (429 with Retry-After)."""
        name, issued = await auth.login(body.name, body.password, client_address(request))
        return TokenOut(token=issued.token, expires_at=issued.expires_at, user=name)

    @router.delete(
        "/sessions/current",
        status_code=204,
        tags=["accounts"],
        summary="Log out",
        responses=errors_doc(401, 404),
    )
    async def logout(caller: Caller) -> Response:
        """Revoke the bearer token this request was made with."""
        await auth.logout(caller)
        return Response(status_code=204)

    @router.get("/me", tags=["accounts"], summary="Who am I", responses=errors_doc(401))
    async def me(caller: Caller) -> MeOut:
        """The caller's account, the server's default room (where new telnet users start)
        and the room the caller last went into (where they come back to)."""
        user = user_out(await accounts.get(caller.name))
        last = await comeback.last_room(caller.name)
        return MeOut(**user.model_dump(), default_room=default_room, last_room=last)

    @router.put(
        "/me/password",
        status_code=204,
        tags=["accounts"],
        summary="Change password",
        responses=errors_doc(401, 409, 422),
    )
    async def change_password(body: PasswordChange, caller: Caller, request: Request) -> Response:
        """Needs the current password; every token of the user is revoked. 409: another
        change of the user's is under way; 429: past `limits.password_change_rate`."""
        await auth.change_password(
            caller, body.current_password, body.new_password, client_address(request)
        )
        return Response(status_code=204)

    @router.get(
        "/me/ignores", tags=["ignores"], summary="List ignored users", responses=errors_doc(401)
    )
    async def ignores(caller: Caller) -> IgnoreList:
        return IgnoreList(users=await ignore_lists.ignored(caller.name))

    @router.put(
        "/me/ignores/{user}",
        status_code=204,
        tags=["ignores"],
        summary="Ignore a user",
        responses=errors_doc(401, 404, 409, 422),
    )
    async def ignore(user: UserName, caller: Caller) -> Response:
        """Their messages are left out of history, /receive and live delivery."""
        await ignore_lists.ignore(caller.name, user)
        return Response(status_code=204)

    @router.delete(
        "/me/ignores/{user}",
        status_code=204,
        tags=["ignores"],
        summary="Stop ignoring a user",
        responses=errors_doc(401, 404, 422),
    )
    async def unignore(user: UserName, caller: Caller) -> Response:
        await ignore_lists.unignore(caller.name, user)
        return Response(status_code=204)

    @router.get("/me/away", tags=["away"], summary="Am I away", responses=errors_doc(401))
    async def away_state(caller: Caller) -> AwayOut:
        """The caller's away message, as every door shows it (null: not away, or offline)."""
        return AwayOut(away=subscriptions.away_of(name_key(caller.name)))

    @router.put(
        "/me/away",
        tags=["away"],
        summary="Mark yourself away",
        responses=errors_doc(401, 409, 422, 429),
    )
    async def set_away(body: AwaySet, caller: Caller) -> AwayOut:
        """As telnet `/away MESSAGE` and IRC `AWAY :MESSAGE`: everyone sharing a room with
        the caller is told (WebSocket `away` frame, IRC away-notify, a telnet line), on every
        node, and so are the caller's own sessions. Away goes with the caller's sessions: 409
        when they have none (telnet, IRC, or the web page's WebSocket, on any node). Changes
        are limited per user (429 with Retry-After); setting the current state again is free."""
        return AwayOut(away=await away.set(name_key(caller.name), body.message))

    @router.delete(
        "/me/away",
        status_code=204,
        tags=["away"],
        summary="Come back",
        responses=errors_doc(401, 409, 429),
    )
    async def come_back(caller: Caller) -> Response:
        """As telnet `/away` and IRC `AWAY` without a message."""
        await away.set(name_key(caller.name), None)
        return Response(status_code=204)

    return router
