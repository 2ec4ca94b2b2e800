"""Property-based API testing: schemathesis generates requests from /openapi.json, valid and
invalid, and every answer must be a non-5xx response that the schema documents.

The server runs in this test's event loop; schemathesis (synchronous) runs in a process of its
own against the live URL (tests/integration/schemathesis_fuzz.py says why not a thread)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers.http import PASSWORD, base_url, basic, http_client, register
from tests.integration.schemathesis_fuzz import USER
from torbit.app import App

ROOT = Path(__file__).resolve().parents[2]


# 10-17 s on CI's two cores, but a fixed amount of work whose time grows with the machine's
# load (near 120 s, pytest's default timeout, at a load average of 10): a hang guard only
@pytest.mark.timeout(600)
async def test_every_operation_conforms_to_the_schema(server: App) -> None:
    async with http_client(server) as client:
        await register(client, USER)
        for text in ("one", "two"):
            r = await client.post(f"/send/lobby/{USER}", content=text, auth=basic(USER))
            assert r.status_code == 201
    authorization = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    async def fuzz(mode: str) -> list[str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.schemathesis_fuzz",
            base_url(server),
            mode,
            cwd=ROOT,
            env=dict(os.environ, TORBIT_FUZZ_AUTHORIZATION=authorization),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()[-4000:]
        found: list[str] = json.loads(out.decode().splitlines()[-1])  # after hypothesis' prints
        return found

    # Valid and invalid requests from two processes side by side: one client waits on the
    # server (this process) as much as the server waits on it, so one used about one core.
    found = await asyncio.gather(fuzz("positive"), fuzz("negative"))
    failures = [f for each in found for f in each]
    assert not failures, "\n\n".join(failures)
