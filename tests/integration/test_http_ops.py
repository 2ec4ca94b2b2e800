"""Operations endpoints and the API description: health, readiness, metrics, OpenAPI, docs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers.http import basic, error_of, http_client, register
from torbit.app import App
from torbit.errors import ServiceUnavailable
from torbit.frontends.http import WEB_DIR


@pytest.fixture
async def client(server: App) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server) as c:
        yield c


async def test_health_and_readiness(
    server: App, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}

    async def down() -> None:
        raise ServiceUnavailable("storage unavailable: connection refused")

    monkeypatch.setattr(server.core.store, "ping", down)  # type: ignore[union-attr]
    message = error_of(await client.get("/readyz"), 503, "unavailable")
    assert message.startswith("store: storage unavailable")
    assert (await client.get("/healthz")).status_code == 200


async def test_metrics_in_prometheus_format(client: httpx.AsyncClient) -> None:
    await register(client, "alice")
    r = await client.post("/send/lobby/alice", content="hi", auth=basic("alice"))
    assert r.status_code == 201
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'torbit_messages_in_total{door="http"} 1.0' in r.text
    for name in (
        "torbit_connected_clients",
        "torbit_messages_out_total",
        "torbit_delivery_latency_seconds_bucket",
        "torbit_dropped_slow_clients",
    ):
        assert name in r.text


async def test_openapi_documents_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        "/send/{room}/{user}": {"post"},
        "/receive/{room}/{user}": {"get"},
        "/api/v1/server": {"get"},
        "/api/v1/users": {"post"},
        "/api/v1/sessions": {"post"},
        "/api/v1/sessions/current": {"delete"},
        "/api/v1/me": {"get"},
        "/api/v1/me/password": {"put"},
        "/api/v1/me/away": {"get", "put", "delete"},
        "/api/v1/me/ignores": {"get"},
        "/api/v1/me/ignores/{user}": {"put", "delete"},
        "/api/v1/me/invites": {"get"},
        "/api/v1/me/invites/{room}": {"delete"},
        "/api/v1/me/rooms": {"get"},
        "/api/v1/rooms": {"get", "post"},
        "/api/v1/rooms/{room}": {"get", "patch", "delete"},
        "/api/v1/rooms/{room}/invites": {"post"},
        "/api/v1/rooms/{room}/settings": {"get", "patch"},
        "/api/v1/rooms/{room}/bans/{user}": {"put", "delete"},
        "/api/v1/rooms/{room}/bans": {"get"},
        "/api/v1/rooms/{room}/banmasks": {"put", "delete"},
        "/api/v1/rooms/{room}/exceptions": {"put", "delete"},
        "/api/v1/rooms/{room}/mutes/{user}": {"put", "delete"},
        "/api/v1/rooms/{room}/admins/{user}": {"put", "delete"},
        "/api/v1/rooms/{room}/voices/{user}": {"put", "delete"},
        "/api/v1/rooms/{room}/audit": {"get"},
        "/api/v1/rooms/{room}/members": {"get"},
        "/api/v1/rooms/{room}/members/{user}": {"put", "delete"},
        "/api/v1/rooms/{room}/messages": {"get", "post"},
        "/api/v1/rooms/{room}/read-marker": {"get", "put"},
        "/api/v1/private-messages": {"get", "post"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
        "/admin/drain": {"post"},
    }
    assert {p: set(ops) for p, ops in paths.items()} == expected
    send_body = paths["/send/{room}/{user}"]["post"]["requestBody"]["content"]
    assert set(send_body) == {"text/plain", "application/json"}
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    receive = paths["/receive/{room}/{user}"]["get"]["responses"]
    assert receive["401"]["content"]["application/json"]["schema"] == error_ref
    assert receive["422"]["content"]["application/json"]["schema"] == error_ref
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert set(spec["components"]["securitySchemes"]) == {"basic", "bearer"}
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.skipif(not (WEB_DIR / "index.html").is_file(), reason="no web page in this tree")
async def test_the_web_page_is_served_at_the_root_without_shadowing_the_api(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    error_of(await client.get("/no-such-file.js"), 404, "not_found")
    error_of(await client.get("/api/v1/no-such-thing"), 404, "not_found")
    error_of(await client.post("/"), 404, "not_found")
    error_of(await client.delete("/api/v1/me"), 405, "method_not_allowed")


HEAD_PATHS = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/docs/init.js",
    "/docs/assets/swagger-ui.css",
    "/openapi.json",
    "/",
]


async def test_head_answers_as_get_without_a_body(
    server: App, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load balancer checking nodes with `HEAD /healthz` got 404 (the web page's mount
    took every HEAD outside /api) and took the node for down. The answers go on one kept
    alive connection: a body written after a HEAD's head would garble the next."""
    for path in HEAD_PATHS:
        got, head = await client.get(path), await client.head(path)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        for name in ("content-type", "content-length"):
            assert head.headers[name] == got.headers[name], (path, name)
    assert (await client.get("/healthz")).json() == {"status": "ok"}

    async def down() -> None:
        raise ServiceUnavailable("storage unavailable: connection refused")

    monkeypatch.setattr(server.core.store, "ping", down)  # type: ignore[union-attr]
    assert (await client.head("/readyz")).status_code == 503
    spec = (await client.get("/openapi.json")).json()
    assert all("head" not in operations for operations in spec["paths"].values())
