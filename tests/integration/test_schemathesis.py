"""Property-based API testing: schemathesis generates requests from /openapi.json, valid and
invalid, and every answer must be a non-5xx response that the schema documents.

The server runs in this test's event loop, so schemathesis (which is synchronous) runs in a
worker thread against the live URL."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.http import PASSWORD, base_url, basic, http_client, register
from torbit.app import App

MAX_EXAMPLES = 12
USER = "fuzzer"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fixed_values(path: str, mode: GenerationMode) -> dict[str, Any]:
    """Pin what random data would almost never hit: the caller's own name where a route acts
    as the caller, and no long-poll wait."""
    fixed: dict[str, Any] = {}
    if path == "/receive/{room}/{user}":
        fixed["query"] = {"wait": 0}
    if mode is GenerationMode.POSITIVE and (
        path.startswith(("/send/", "/receive/")) or path.endswith("/members/{user}")
    ):
        fixed["path_parameters"] = {"user": USER}
    return fixed


def fuzz(url: str, authorization: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(
                    generation_mode=mode, **fixed_values(operation.path, mode)
                )

                @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                          derandomize=True, phases=[Phase.explicit, Phase.generate],
                          suppress_health_check=list(HealthCheck))
                @given(case=strategy)
                def check(case: Any) -> None:
                    case.call_and_validate(base_url=url, session=session, checks=CHECKS,
                                           headers={"Authorization": authorization})

                try:
                    check()
                except Unsatisfiable:
                    pass  # no inputs to make invalid (no parameters, no body)
                except Exception as e:  # report every operation, not just the first failure
                    failures.append(f"{operation.label} ({mode.value}): {e}")
    return failures


async def test_every_operation_conforms_to_the_schema(server: App) -> None:
    async with http_client(server) as client:
        await register(client, USER)
        for text in ("one", "two"):
            r = await client.post(f"/send/lobby/{USER}", content=text, auth=basic(USER))
            assert r.status_code == 201
    authorization = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    failures = await asyncio.to_thread(fuzz, base_url(server), authorization)
    assert not failures, "\n\n".join(failures)
