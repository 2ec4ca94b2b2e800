"""The HTTP front door: the classic routes, the /api/v1 REST API, the live WebSocket and the
operations endpoints, on the same core services as telnet. Routes only parse, authenticate,
call a service and serialize; `create_http_app` wires them together."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.telemetry import TelemetryConfig
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from torbit import __version__
from torbit.frontends.handshake import Handshakes
from torbit.frontends.http.accounts import accounts_router
from torbit.frontends.http.adapters import share_type_adapters
from torbit.frontends.http.auth import Authenticator, principal_dependency
from torbit.frontends.http.classic import classic_router
from torbit.frontends.http.context import HttpCore, HttpOptions
from torbit.frontends.http.docs import docs_router
from torbit.frontends.http.doorman import HttpDoor, refusals
from torbit.frontends.http.errors import install_error_handlers
from torbit.frontends.http.guard import DoorLimits, guarded_protocol
from torbit.frontends.http.headers import SecurityHeaders
from torbit.frontends.http.limits import BodyLimit
from torbit.frontends.http.longpoll import Receiver, WaitLimits
from torbit.frontends.http.moderation import moderation_router
from torbit.frontends.http.ops import ops_router
from torbit.frontends.http.origins import OriginCheck
from torbit.frontends.http.proxies import ForwardedClient, TrustedProxies
from torbit.frontends.http.rooms import rooms_router
from torbit.frontends.http.ws import KeepRawSend, LiveEndpoint
from torbit.frontends.tally import Tally

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# FastAPI asks on every request whether a global OpenTelemetry provider is set (6-10 µs of a
# ~250 µs POST /send here, bench/send_cpu.py) unless all three are off: http.opentelemetry
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

DESCRIPTION = """\
A multi-room chat server. The same rooms and messages are reachable over telnet, IRC and
the web page.

**Authentication**: HTTP Basic (name and password) or `Authorization: Bearer <token>` with a
token from `POST /api/v1/sessions`, on everything but registering and logging in.

**Errors** always have the shape `{"error": {"code": "...", "message": "..."}}`.

**Live messages**: WebSocket `/api/v1/ws` (token in the `Authorization` header, as
`?token=`, or in a first frame `{"type": "auth", "token": "..."}`). Client frames:
`subscribe` (room), `unsubscribe` (room), `leave` (room, optional reason: end the membership;
this socket is told `you left #room`, your other sessions `(on another connection)`), `send`
(room, text; `"kind": "action"` for a /me), `private` (to, text), `away` (text: mark yourself
away; null or "": back), `ping`.
Server frames: `message` (the message shape below), `notice` (`text`, `room`; one saying what
happened also has `kind` such as `kick`, `ban` or `topic`, `user`, `by` and `detail`: a kick's
or ban's reason, the new topic), `error`, `pong` and `ping`,
and `away` when someone sharing a subscribed room marks themselves away or back (telnet
`/away`, IRC `AWAY`, `PUT /api/v1/me/away`, on any node): `{"type": "away", "user": "alice",
"away": "lunch", "text": "alice is away: lunch"}`, with `"away": null` for back; the same
frame with your own name when you change it, from any of your sessions (the `away` frame
you sent included), `"text": "you are marked away: lunch"`.
"""


class WebMount(Mount):
    """The static web page at `/`. It claims only GETs (and HEADs) outside /api, so an
    unknown API path is still a JSON 404, and a wrong method on a known route still a 405:
    outside /api too, where it leaves alone a path another route takes by another method
    (`curl $B/send/lobby/dave` without `--data` was told "no such route"). GET routes take
    HEAD too: see `with_head`."""

    def __init__(self, *args: Any, others: Sequence[BaseRoute] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._others = others  # the app's routes, this mount the last of them

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or (path == "/api" or path.startswith("/api/"))
            or any(r is not self and r.matches(scope)[0] is Match.PARTIAL for r in self._others)
        ):
            return Match.NONE, {}
        return super().matches(scope)


class WebFiles(StaticFiles):
    """The page's files, each answered with `Cache-Control: no-cache`: the browser asks again
    every time (a 304 by its ETag when unchanged). Without it a browser kept a file up to a
    tenth of its age unasked; the page is ES modules that import each other's names, and an
    upgrade's new module beside an old one kept would fail to link: a blank page."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        return response


def with_head(router: APIRouter) -> APIRouter:
    """Each GET route of `router` answers HEAD too, as GET without the body (uvicorn leaves
    it out), through a twin kept out of the OpenAPI document. FastAPI's routes take only
    the methods they name, so `HEAD /healthz` fell to the web page's mount, which answered
    404: a load balancer checking nodes with HEAD took every one for down."""
    for route in list(router.routes):
        if isinstance(route, APIRoute) and route.methods == {"GET"}:
            router.add_api_route(
                route.path,
                route.endpoint,
                methods=["HEAD"],
                response_model=route.response_model,
                status_code=route.status_code,
                response_class=route.response_class,
                response_model_exclude_none=route.response_model_exclude_none,
                dependencies=route.dependencies,
                include_in_schema=False,
                name=route.name,
            )
    return router


def create_http_app(core: HttpCore, options: HttpOptions) -> FastAPI:
    """The ASGI app of the HTTP front door. Its own pieces (Basic-auth cache, long-poll
    waiters, WebSocket endpoint) are built here from the core services it is given."""
    share_type_adapters()  # once per process: the routes' pydantic adapters (adapters.py)
    auth = Authenticator(core.accounts, core.tokens, core.revocations)
    principal = principal_dependency(auth)
    receiver = Receiver(
        core.messaging,
        core.subscriptions,
        core.metrics,
        WaitLimits(options.max_long_polls, options.long_polls_per_user, options.long_polls_per_ip),
        auth,
    )
    live = LiveEndpoint(
        core.sessions,
        core.membership,
        core.messaging,
        core.subscriptions,
        core.away,
        auth,
        core.metrics,
        options.ws_max_queue,
        options.ws_flush_window,
        options.ws_send_buffer,
        options.ws_receive_buffer,
        options.ws_input_budget,
    )

    app = FastAPI(
        title="torbit",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served from local files by docs_router
        redoc_url=None,
        # None: FastAPI's defaults (the global providers); off, it never asks for them
        telemetry=None if options.opentelemetry else TELEMETRY_OFF,
    )
    install_error_handlers(app)
    # outermost last: the real client first, then headers on every answer, then origins
    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes)
    app.add_middleware(KeepRawSend)
    app.add_middleware(OriginCheck, allowed=options.allowed_origins)
    app.add_middleware(SecurityHeaders)
    if options.trusted_proxies:
        app.add_middleware(ForwardedClient, proxies=TrustedProxies(options.trusted_proxies))

    # The classic routes first and as the app's own: POST /send and GET /receive are the
    # hottest, and FastAPI matches an included router's routes through a layer of its own
    # (twice for the router that matches, checking each time that its routes are unchanged).
    app.router.routes.extend(
        classic_router(
            core.membership, core.messaging, receiver, core.metrics, auth, principal
        ).routes
    )
    app.include_router(with_head(docs_router(app.title)))
    app.include_router(
        with_head(
            ops_router(
                core.readiness, core.metrics, options.metrics_token, core.drain, core.troubles
            )
        )
    )
    app.include_router(
        accounts_router(
            core.accounts,
            core.ignores,
            core.away,
            core.subscriptions,
            core.comeback,
            options.default_room,
            auth,
            principal,
        )
    )
    app.include_router(
        rooms_router(
            core.membership,
            core.messaging,
            core.moderation,
            core.room_deletion,
            core.comeback,
            core.metrics,
            principal,
            auth.holds,
        )
    )
    app.include_router(moderation_router(core.membership, core.moderation, principal))
    app.add_api_websocket_route("/api/v1/ws", live, name="live")

    # requests answered 5xx (the store or the log down), summed up in the log (errors.py)
    app.state.failed = failed = Tally(
        logging.getLogger("torbit.http"), "http: failed request", level=logging.WARNING
    )

    def on_shutdown() -> None:
        live.shutting_down = True
        receiver.close()
        failed.stop()  # what it counted and had not told yet

    app.state.on_shutdown = on_shutdown
    app.state.live = live
    if WEB_DIR.is_dir():
        app.router.routes.append(
            WebMount(
                "/",
                app=WebFiles(directory=WEB_DIR, html=True),
                name="web",
                others=app.router.routes,
            )
        )
    return app


def http_protocol(core: HttpCore, options: HttpOptions, pending: Handshakes) -> HttpDoor:
    """The connection protocol to give uvicorn: bounded heads and bodies, and connections
    counted per client address in the limiter the telnet door shares, a refused one before
    uvicorn's protocol is made (doorman.py; those waiting to be answered in `pending`)."""
    refused = refusals(core.connections, core.metrics)
    odd = Tally(logging.getLogger("torbit.http"), "http: odd request")
    limits = DoorLimits(
        core.connections,
        TrustedProxies(options.trusted_proxies),
        options.body_timeout,
        options.send_timeout,
        refused.count,  # through a trusted proxy, the guard refuses (doorman.py: the rest)
        options.ws_send_buffer,  # every connection's, not only a WebSocket's
        odd.count,
    )
    return HttpDoor(limits, guarded_protocol(limits), refused, pending, odd)


def drain_http_app(app: FastAPI, text: str) -> None:
    """The node is leaving: WebSockets are closed with 1012 (long polls simply end later)."""
    app.state.live.drain(text)


def open_websockets(app: FastAPI) -> int:
    return int(app.state.live.connected)


def shutdown_http_app(app: FastAPI) -> None:
    """Before the server stops: long-polling requests answer at once instead of being cut."""
    app.state.on_shutdown()
