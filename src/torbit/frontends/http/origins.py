"""Cross-site request forgery and cross-site WebSockets: a browser attaches the credentials it
holds for this server (cached HTTP Basic) to requests that another site's page makes, so
such a page could post to a room or move a `/receive` cursor in the user's name, or open the
live WebSocket. Browsers say where a request comes from (`Origin`, `Sec-Fetch-Site`); what
they say is checked before any route runs.

A request is refused with 403 when it changes state (every method but GET, HEAD and
OPTIONS, and the classic `GET /receive`, which moves the read cursor), or is a WebSocket
handshake, and:

- its `Origin` is neither the server's own (the scheme and `Host` the request came with)
  nor one of `http.allowed_origins`; or
- it has no `Origin` (a browser leaves it out of a plain GET such as an `<img>`) but
  `Sec-Fetch-Site` says another site, or a sibling origin of the same site, sent it.

Requests with neither header (curl, scripts, other non-browser clients) pass: the check is
about browsers, whose ambient credentials are the danger.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from torbit.frontends.http.errors import error_response

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATEFUL_GETS = ("/receive/",)  # GETs that change something: the classic read cursor
OWN_FETCH_SITES = frozenset({"same-origin", "none"})  # "none": typed or bookmarked by the user
_READ = frozenset({b"origin", b"sec-fetch-site", b"host"})
_HTTP_SCHEME = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def own_origin(scope: Scope, host: str | None) -> str | None:
    """The origin the client addressed: scheme and Host, as a browser would write it."""
    scheme = _HTTP_SCHEME.get(scope.get("scheme", "http"))
    if not host or scheme is None:
        return None
    return f"{scheme}://{host.strip().lower()}"


class OriginCheck:
    """Pure ASGI middleware: 403 for cross-origin state changes and WebSocket handshakes."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str] = ()) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    def refusal(self, scope: Scope) -> str | None:
        """Why this request may not go on, or None."""
        # one pass over the raw headers (names come lower-cased), the first of each kept
        found: dict[bytes, str] = {}
        for name, value in scope["headers"]:
            if name in _READ and name not in found:
                found[name] = value.decode("latin-1")
        origin = found.get(b"origin")
        if origin is not None:
            origin = origin.strip().lower()
            if origin in self.allowed:
                return None
        site = found.get(b"sec-fetch-site")
        if site is not None and site.strip().lower() not in OWN_FETCH_SITES:
            return f"cross-site request refused (Sec-Fetch-Site: {site[:20]})"
        if origin is not None and origin != own_origin(scope, found.get(b"host")):
            return f"cross-origin request refused: {origin[:100]} is not an allowed origin"
        return None

    def applies(self, scope: Scope) -> bool:
        if scope["type"] == "websocket":
            return True
        if scope["type"] != "http":
            return False
        method = scope.get("method", "GET")
        return method not in SAFE_METHODS or (
            method == "GET" and scope.get("path", "").startswith(STATEFUL_GETS)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        why = self.refusal(scope) if self.applies(scope) else None
        if why is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await error_response(403, "forbidden", why)(scope, receive, send)
        elif "websocket.http.response" in scope.get("extensions", {}):
            # a handshake refused with an HTTP answer in the one error shape
            await error_response(403, "forbidden", why)(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": why[:120]})
