"""schemathesis against a live torbit: `python -m tests.integration.schemathesis_fuzz URL
[positive|negative]` with the Authorization header in TORBIT_FUZZ_AUTHORIZATION; prints the
failures as JSON, the last line of its output. Both kinds of requests by default; the test
runs one process for each side by side: the valid requests (which change the server's state)
come in the same order as in one run, and the invalid ones are refused before they change
anything.

Its own process, not a worker thread of the test's: schemathesis imports most of itself on
first use, and Python 3.11's compiler is not safe in two threads at once (pytest compiles
each module it rewrites): an import there while the test's thread compiled failed with
"SystemError: AST constructor recursion depth mismatch"."""

from __future__ import annotations

import json
import os
import sys
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

MAX_EXAMPLES = 12
ALL_MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
USER = "fuzzer"  # the caller, registered by the test
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


def fuzz(
    url: str,
    authorization: str,
    modes: tuple[GenerationMode, ...] = ALL_MODES,
) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            for mode in modes:
                strategy = operation.as_strategy(
                    generation_mode=mode, **fixed_values(operation.path, mode)
                )

                @settings(
                    max_examples=MAX_EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def check(case: Any) -> None:
                    case.call_and_validate(
                        base_url=url,
                        session=session,
                        checks=CHECKS,
                        headers={"Authorization": authorization},
                    )

                try:
                    check()
                except Unsatisfiable:
                    pass  # no inputs to make invalid (no parameters, no body)
                except Exception as e:  # report every operation, not just the first failure
                    failures.append(f"{operation.label} ({mode.value}): {e}")
    return failures


if __name__ == "__main__":
    modes = tuple(GenerationMode(m) for m in sys.argv[2:]) or ALL_MODES
    print(json.dumps(fuzz(sys.argv[1], os.environ["TORBIT_FUZZ_AUTHORIZATION"], modes)))
