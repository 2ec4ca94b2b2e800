"""Routes FastAPI documents but does not run. The classic `POST /send` is the door's hottest
route, and FastAPI's per-request machinery (solving the caller's dependency chain: the
request, both security schemes, the path parameters; matching each against the
declarations) cost more CPU than the route's own work (bench/README.md, branch `send4`).

A `LeanRoute` keeps the endpoint FastAPI reads for the OpenAPI schema (path parameters,
security schemes, body, responses), and runs instead the plain `handler(request) -> Response`
the endpoint was marked with by `@runs(handler)`. The handler must do what the endpoint's
declarations ask of FastAPI: it reads the path parameters (plain strings, which FastAPI
validates to nothing more) and authenticates the caller itself. Errors are raised as usual
and shaped by the app's exception handlers. An endpoint without a mark runs as FastAPI would.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
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
    """An APIRoute served by its endpoint's `@runs` handler, when it has one."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = lean_handler(self.endpoint)
        return handler if handler is not None else super().get_route_handler()
