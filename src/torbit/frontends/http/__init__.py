"""The HTTP front door: the classic routes, the /api/v1 REST API, the live WebSocket and the
operations endpoints, on the same core services as telnet. Routes only parse, authenticate,
call a service and serialize; `create_http_app` wires them together."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from torbit import __version__
from torbit.core.tokens import Tokens
from torbit.frontends.http.accounts import accounts_router
from torbit.frontends.http.auth import Authenticator, principal_dependency
from torbit.frontends.http.classic import classic_router
from torbit.frontends.http.errors import install_error_handlers
from torbit.frontends.http.limits import BodyLimit
from torbit.frontends.http.longpoll import Receiver
from torbit.frontends.http.moderation import moderation_router
from torbit.frontends.http.ops import ops_router
from torbit.frontends.http.rooms import rooms_router
from torbit.frontends.http.ws import KeepRawSend, LiveEndpoint

if TYPE_CHECKING:
    from torbit.app import Services

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

DESCRIPTION = """\
A multi-room chat server. The same rooms and messages are reachable over telnet.

**Authentication**: HTTP Basic (name and password) or `Authorization: Bearer <token>` with a
token from `POST /api/v1/sessions`, on everything but registering and logging in.

**Errors** always have the shape `{"error": {"code": "...", "message": "..."}}`.

**Live messages**: WebSocket `/api/v1/ws` (token in the `Authorization` header, as
`?token=`, or in a first frame `{"type": "auth", "token": "..."}`). Client frames:
`subscribe` (room), `unsubscribe` (room), `send` (room, text), `private` (to, text), `ping`.
Server frames: `message` (the message shape below), `notice`, `error`, `pong` and `ping`.
"""


class WebMount(Mount):
    """The static web page at `/`. It claims only GETs outside /api, so an unknown API path
    is still a JSON 404, and a wrong method on a known route still a 405."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD") or (
            path == "/api" or path.startswith("/api/")
        ):
            return Match.NONE, {}
        return super().matches(scope)


def create_http_app(services: Services) -> FastAPI:
    """The ASGI app of the HTTP front door. Its own pieces (tokens, Basic-auth cache, long-poll
    waiters, WebSocket endpoint) are built here from the shared services."""
    s = services.settings
    tokens = Tokens(services.store, timedelta(hours=s.http.token_ttl_hours))
    auth = Authenticator(services.accounts, tokens)
    principal = principal_dependency(auth)
    receiver = Receiver(services.chat, services.hub, services.log, services.metrics)
    live = LiveEndpoint(
        services.chat,
        services.hub,
        auth,
        services.connections,
        services.metrics,
        max(s.http.ws_max_queue, s.chat.history_on_join + 16),  # history alone never drops
    )

    app = FastAPI(
        title="torbit",
        version=__version__,
        description=DESCRIPTION,
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=s.http.max_body_bytes)
    app.add_middleware(KeepRawSend)

    app.include_router(ops_router(services.store, services.log, services.metrics))
    app.include_router(classic_router(services.chat, receiver, services.metrics, principal))
    app.include_router(accounts_router(services.accounts, services.chat, auth, principal))
    app.include_router(
        rooms_router(services.chat, services.moderation, services.metrics, principal)
    )
    app.include_router(moderation_router(services.chat, services.moderation, principal))
    app.add_api_websocket_route("/api/v1/ws", live, name="live")
    app.state.on_shutdown = receiver.close
    if WEB_DIR.is_dir():
        app.router.routes.append(
            WebMount("/", app=StaticFiles(directory=WEB_DIR, html=True), name="web")
        )
    return app


def shutdown_http_app(app: FastAPI) -> None:
    """Before the server stops: long-polling requests answer at once instead of being cut."""
    app.state.on_shutdown()


__all__ = ["create_http_app", "shutdown_http_app"]
