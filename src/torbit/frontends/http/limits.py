"""Request body size limit, enforced while the body is read: nothing larger than the limit is
ever buffered, whether the client announced a Content-Length or streams a chunked body."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from torbit.frontends.http.errors import error_response


class BodyLimit:
    """Pure ASGI middleware: 413 in the one error shape for bodies over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body too large: at most {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = b""
        for name, value in scope["headers"]:  # names come lower-cased; the first one counts
            if name == b"content-length":
                declared = value
                break
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(413, "too_large", self._message())(scope, receive, send)
            return
        total = 0

        async def limited() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.max_bytes:
                    # Starlette's HTTPException passes through FastAPI's body parsing untouched
                    # and reaches the error handlers, which shape it.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)
