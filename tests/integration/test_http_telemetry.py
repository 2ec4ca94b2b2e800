"""FastAPI's native OpenTelemetry (`http.opentelemetry`): off by default, when no request asks
for the process's providers (asking cost 6-10 µs of a ~250 µs POST /send, bench/send_cpu.py);
on, FastAPI looks for them on every request, as it does by default."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace

from tests.conftest import ServerFactory
from tests.helpers.http import basic, http_client, register


@pytest.mark.parametrize("on", [False, True], ids=["default-off", "on"])
async def test_fastapi_telemetry_asks_for_providers_only_when_on(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    server = await make_server(http={"opentelemetry": True}) if on else await make_server()
    asked: list[int] = []
    provider = trace.get_tracer_provider

    def counted() -> Any:
        asked.append(1)
        return provider()

    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    async with http_client(server) as client:
        await register(client, "alice")
        r = await client.post("/send/lobby/alice", content="hi", auth=basic("alice"))
        assert r.status_code == 201, r.text
    assert bool(asked) is on, len(asked)
