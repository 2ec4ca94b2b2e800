"""Operations: liveness, readiness (store and message log reachable) and Prometheus metrics.

The metrics tell who is online where and how busy the node is, so they are served only to
the host itself (127.0.0.1, ::1: where a local Prometheus or agent scrapes) or to a scraper
presenting `Authorization: Bearer <http.metrics_token>`. The address is the real client's
(proxies.py): a request relayed by a local reverse proxy is not local. A local request must
also name the host as `localhost` or by address: a web page whose DNS name an attacker
rebinds to 127.0.0.1 sends its own name as `Host` (and passes the same-origin check), and
was let in by its address alone: it could read the metrics and drain the node from the
browser of anyone on the server's host."""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import asyncio
import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from torbit.errors import TorbitError
from torbit.frontends.http.auth import client_address
from torbit.frontends.http.errors import error_response, errors_doc
from torbit.frontends.http.schemas import Health
from torbit.frontends.proxied import peer_address
from torbit.metrics import Metrics

PING_TIMEOUT = 2.0
LOCAL = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def is_local(host: str) -> bool:
    return peer_address(host) in LOCAL


def named_locally(request: Request) -> bool:
    """Whether the request's `Host` is `localhost` or an address (not a DNS name that some
    page rebound to this host)."""
    host = request.headers.get("host", "")
    if host.startswith("["):
        host = host[1 : host.find("]")]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host.lower() == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def from_here(request: Request) -> bool:
    return is_local(client_address(request)) and named_locally(request)


def may_scrape(request: Request, token: str) -> bool:
    """From this host, or with the metrics token."""
    if from_here(request):
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


async def _reachable(what: str, ping: Callable[[], Awaitable[None]]) -> str | None:
    """None if the engine answers in time, else why not."""
    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await ping()
    except TimeoutError:
        return f"{what}: no answer within {PING_TIMEOUT:g} s"
    except TorbitError as e:
        return f"{what}: {e.message}"
    return None


def may_drain(request: Request, token: str) -> bool:
    """From this host only, and with the metrics token when one is configured."""
    if not from_here(request):
        return False
    if not token:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def ops_router(
    checks: Mapping[str, Callable[[], Awaitable[None]]],
    metrics: Metrics,
    metrics_token: str = "",
    drain: Callable[[], float] | None = None,
    troubles: Callable[[], list[str]] = lambda: [],
) -> APIRouter:
    """`checks`: what must answer for the node to be ready (the store, the message log);
    `metrics_token`: what a scraper from elsewhere presents ("": only local scrapes);
    `troubles`: what is wrong without making the node unready, shown in /readyz's detail;
    `drain`: starts draining, returns the seconds within which the node exits."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness", response_model_exclude_none=True)
    async def healthz() -> Health:
        """The process is up and serving."""
        return Health(status="ok")

    @router.get(
        "/readyz",
        summary="Readiness",
        response_model=Health,
        response_model_exclude_none=True,
        responses=errors_doc(503),
    )
    async def readyz() -> Health | JSONResponse:
        """The store and the message log both answer; `detail` names what else is wrong."""
        answers = await asyncio.gather(*(_reachable(w, ping) for w, ping in checks.items()))
        problems = [p for p in answers if p]
        if problems:
            return error_response(503, "unavailable", "; ".join(problems + troubles()))
        return Health(status="ready", detail="; ".join(troubles()) or None)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text exposition format",
            },
            **errors_doc(403),
        },
    )
    async def prometheus(request: Request) -> Response:
        """Only from the server's own host (127.0.0.1, ::1), or with `Authorization: Bearer`
        and the configured `http.metrics_token`."""
        if not may_scrape(request, metrics_token):
            return error_response(
                403,
                "forbidden",
                "metrics are served to this host only, or with the metrics token",
            )
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.post(
        "/admin/drain",
        summary="Drain this node",
        status_code=202,
        response_model=Health,
        response_model_exclude_none=True,
        responses=errors_doc(403),
        include_in_schema=drain is not None,
    )
    async def drain_node(request: Request) -> Health | JSONResponse:
        """Stop accepting, report not ready, ask clients to reconnect, then exit (as on
        SIGTERM). Only from the server's own host, with `Authorization: Bearer` and the
        `http.metrics_token` when one is configured; `torbit node drain` calls it.
        `drain_seconds`: the node's own node.drain_seconds, which the caller's config may
        not share."""
        if drain is None or not may_drain(request, metrics_token):
            return error_response(
                403, "forbidden", "only from this host, with the metrics token if one is set"
            )
        return Health(status="draining", drain_seconds=drain())

    return router
