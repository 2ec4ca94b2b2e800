"""Fixtures of the integration tests beyond tests/conftest.py: `client`, an HTTP client of
the test's server with alice, bob and carol registered; the two-node tests (`*_nodes.py`)
start their nodes with the scale-out suite's (tests/scale/conftest.py), a store of the
module's own (`pg_url`, or `cassandra_url` for tests parametrised with `STORES`) and the
session's broker. None of them is autouse."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers.http import http_client, register
from tests.scale.conftest import (  # noqa: F401 (fixtures used by name)
    cassandra_url,
    empty_db,
    make_node,
    patient_settling,
    pg_url,
    prefix,
    scale_store,
)
from torbit.app import App


@pytest.fixture
async def client(server: App) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `server`, alice, bob and carol registered (the password
    tests/helpers/http.py's PASSWORD)."""
    async with http_client(server) as c:
        await register(c, "alice", "bob", "carol")
        yield c
