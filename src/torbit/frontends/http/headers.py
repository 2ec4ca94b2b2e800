"""Security headers on every HTTP answer. The web page holds a bearer token in its storage,
so it must not run foreign scripts, be framed by another site (clickjacking), have its
responses sniffed into another type, or leak its URLs in a Referer.

- `Content-Security-Policy`: the page's policy (scripts, styles, images and connections from
  this server only; no plugins, no <base>, no form posts) with `frame-ancestors 'none'`. A
  response that sets its own policy (the API docs) keeps it.
- `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`.
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`.
- `Strict-Transport-Security` when the request came over HTTPS (directly, or through a
  trusted proxy that said so): browsers then refuse plain HTTP to this host for a year.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HSTS = b"max-age=31536000"

_ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", PAGE_CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """Pure ASGI middleware adding the headers above to every response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _ALWAYS
        if scope.get("scheme") == "https":
            extra = (*extra, (b"strict-transport-security", HSTS))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
