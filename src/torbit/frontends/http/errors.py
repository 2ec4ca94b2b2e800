"""One JSON error shape for every error the HTTP front door answers with:

    {"error": {"code": "not_found", "message": "no such room #x"}}

torbit's own errors (TorbitError) carry their status and code; FastAPI's validation errors,
Starlette's HTTP errors (unknown routes, wrong methods) and anything unexpected are
translated here, so a client needs to understand exactly one shape.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from torbit.errors import AuthenticationFailed, Overloaded, RateLimited, TorbitError
from torbit.frontends.http.schemas import ErrorBody
from torbit.frontends.tally import Tally

log = logging.getLogger("torbit.http")

REALM = "torbit"
BASIC_CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'
BEARER_CHALLENGE = f'Bearer realm="{REALM}"'

# Codes for HTTP errors that do not come from a TorbitError.
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    503: "unavailable",
}

_DESCRIPTIONS = {
    401: "Credentials missing or wrong (see WWW-Authenticate)",
    403: "Authenticated, but not allowed",
    404: "No such room, user or route",
    409: "Conflicts with the current state",
    413: "Body or message too large",
    422: "Invalid input",
    429: "Too many requests (see Retry-After)",
    503: "Storage or message bus unreachable, or too busy hashing passwords (Retry-After)",
}


def status_code(status: int) -> str:
    """The error code of an HTTP status that no TorbitError carries."""
    return _STATUS_CODES.get(status, f"http_{status}")


def error_body(code: str, message: str) -> bytes:
    """The error shape's bytes, for answers written before the app has a request (the
    guard's, a refused WebSocket handshake's)."""
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def challenge_for(path: str) -> str:
    """Classic routes challenge for Basic; the v1 API for Bearer, so a browser using the API
    from a page never pops up its own login dialog on a 401."""
    return BEARER_CHALLENGE if path.startswith("/api/") else BASIC_CHALLENGE


def errors_doc(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting the error shape for these statuses, plus those any
    route can answer: 503, and 429 where credentials are checked (login back-off)."""
    codes = {*statuses, 503} | ({429} if 401 in statuses else set())
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in sorted(codes)}


async def _torbit_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TorbitError)
    headers: dict[str, str] = {}
    if isinstance(exc, AuthenticationFailed):
        headers["WWW-Authenticate"] = challenge_for(request.url.path)
    if isinstance(exc, RateLimited | Overloaded):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if exc.http_status >= 500:
        # a line each was any client's to write while the store was down or its disk full
        # (2,717 lines in 87 s from two clients sending: stop 49's probe): summed up instead
        failed: Tally | None = getattr(request.app.state, "failed", None)
        if failed is not None:
            route = getattr(request.scope.get("route"), "path", request.url.path)
            where = request.client.host if request.client else "?"
            failed.count(where, f"{exc.message} ({request.method} {route})")
        else:
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
    return error_response(exc.http_status, exc.code, exc.message, headers or None)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 400:  # FastAPI could not parse the body (say, JSON that is not UTF-8)
        status, message = 422, f"malformed request body: {message}"
    code = status_code(status)
    if status == 404 and message == "Not Found":
        message = f"no such route: {request.method} {request.url.path}"
    headers = dict(exc.headers or {})
    if status == 405 and headers.get("Allow"):  # which method it takes, not only "no"
        message = f"{request.method} {request.url.path} is not allowed: use {headers['Allow']}"
    if status == 401:
        headers["WWW-Authenticate"] = challenge_for(request.url.path)
    return error_response(status, code, message, headers or None)


def _describe(errors: Sequence[Any], content_type: str = "") -> str:
    parts = []
    for e in errors[:3]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        if e.get("type") == "json_invalid":  # its loc is ("body", offset)
            loc = "body"
        parts.append(f"{loc}: {_explain(e, content_type)}")
    more = len(errors) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


JSON_WANTED = "a JSON object is expected, sent with content-type: application/json"


def _explain(error: Any, content_type: str) -> str:
    """Pydantic's words, but where they leave a person guessing: JSON that does not parse
    ("JSON decode error" at a bare offset), a body that is no JSON object because it was
    not sent as JSON (curl -d without -H 'content-type: application/json'), and no body at
    all ("Field required", curl -X PUT without -d)."""
    kind, loc = error.get("type"), tuple(error.get("loc", ()))
    if kind == "json_invalid":
        at = loc[1] if len(loc) > 1 else "?"
        return (
            f"invalid JSON at character {at}: {error.get('ctx', {}).get('error', 'cannot parse')}"
        )
    if kind == "missing" and loc == ("body",):
        return f"{JSON_WANTED} (this request has no body)"
    if kind == "model_attributes_type" and loc == ("body",) and "json" not in content_type:
        shown = content_type.split(";")[0].strip() or "none"
        return f"{JSON_WANTED} (this request's content-type: {shown})"
    return str(error.get("msg", "invalid"))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "").lower()
    return error_response(422, "invalid_input", _describe(exc.errors(), content_type))


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    """The body stopped coming: the client hung up, or was cut off for being too slow (the
    connection guard has answered it). Nobody is left to read this answer."""
    return error_response(400, "bad_request", "the request body did not arrive")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TorbitError, _torbit_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
