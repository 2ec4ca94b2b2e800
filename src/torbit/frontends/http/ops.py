"""Operations: liveness, readiness (store and message log reachable) and Prometheus metrics."""

# No `from __future__ import annotations`: FastAPI reads route annotations at run time.

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from torbit.errors import TorbitError
from torbit.frontends.http.errors import error_response, errors_doc
from torbit.frontends.http.schemas import Health
from torbit.metrics import Metrics

PING_TIMEOUT = 2.0


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


def ops_router(checks: Mapping[str, Callable[[], Awaitable[None]]], metrics: Metrics) -> APIRouter:
    """`checks`: what must answer for the node to be ready (the store, the message log)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> Health:
        """The process is up and serving."""
        return Health(status="ok")

    @router.get("/readyz", summary="Readiness", response_model=Health, responses=errors_doc(503))
    async def readyz() -> Health | JSONResponse:
        """The store and the message log both answer."""
        answers = await asyncio.gather(*(_reachable(w, ping) for w, ping in checks.items()))
        problems = [p for p in answers if p]
        if problems:
            return error_response(503, "unavailable", "; ".join(problems))
        return Health(status="ready")

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "content": {"text/plain": {"schema": {"type": "string"}}},
                "description": "Prometheus text exposition format",
            }
        },
    )
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
