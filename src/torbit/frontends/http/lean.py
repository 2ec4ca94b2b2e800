"""Routes FastAPI documents but does not run. The classic `POST /send` is the door's hottest
route, and FastAPI's per-request machinery (solving the caller's dependency chain: the
request, both security schemes, the path parameters; matching each against the
declarations) cost more CPU than the route's own work (bench/JOURNAL.md, branch `send4`).

A `LeanRoute` keeps the endpoint FastAPI reads for the OpenAPI schema (path parameters,
security schemes, body, responses), and runs instead the plain `handler(request) -> Response`
the endpoint was marked with by `@runs(handler)`. The handler must do what the endpoint's
declarations ask of FastAPI: it reads the path parameters (plain strings, which FastAPI
validates to nothing more) and authenticates the caller itself. Errors are raised as usual
and shaped by the app's exception handlers. A handler may decline a request by returning None
before it has done anything (e.g. a query parameter that is not plainly valid): FastAPI then
runs the endpoint, so its validation errors (422) stay FastAPI's own. An endpoint without a
mark runs as FastAPI would.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Handler = Callable[[Request], Coroutine[Any, Any, Response | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_HANDLER = "__torbit_lean_handler__"


def runs(handler: Handler) -> Callable[[Endpoint], Endpoint]:
    """Mark a documented endpoint: a LeanRoute serves it with `handler`."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _HANDLER, handler)
        return endpoint

    return mark


def lean_handler(endpoint: Callable[..., Any]) -> Handler | None:
    handler: Handler | None = getattr(endpoint, _HANDLER, None)
    return handler


class LeanRoute(APIRoute):
    """An APIRoute served by its endpoint's `@runs` handler, when it has one: called with
    the request, its response sent, nothing else. FastAPI's wrapping of each request (two
    exit stacks for dependencies with `yield`, which a handler has none of; a route-level
    exception handling that finds the app's handlers, which then catch the same exceptions
    one layer out) is left out, and so is FastAPI's per-route `max_body_size` (torbit sets
    none: its BodyLimit middleware bounds every body). A wrong method goes to FastAPI as
    before (405)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._lean = lean_handler(endpoint)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._lean is None or scope["method"] not in (self.methods or ()):
            await super().handle(scope, receive, send)
            return
        response = await self._lean(Request(scope, receive, send))
        if response is None:  # the handler declined (input only FastAPI's validation can judge)
            await super().handle(scope, receive, send)
            return
        await response(scope, receive, send)
