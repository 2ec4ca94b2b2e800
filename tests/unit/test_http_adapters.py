"""The pydantic adapters FastAPI builds for route fields are shared between equal declarations
only (frontends/http/adapters.py)."""

from __future__ import annotations

from typing import Annotated, Any, ForwardRef, Literal

import pytest
from fastapi import APIRouter, Query
from fastapi.routing import APIRoute
from pydantic import ValidationError

from torbit.frontends.http.adapters import _type_key, _Unshareable, share_type_adapters


@pytest.fixture(autouse=True)
def shared() -> None:
    share_type_adapters()


def query_adapter(declaration: Any, default: Any = 1) -> Any:
    """The adapter of a query parameter, in a route built afresh as each app build does."""
    router = APIRouter()

    async def endpoint(limit: Any = default) -> dict[str, int]:
        return {}

    endpoint.__annotations__["limit"] = declaration  # this module's annotations are strings

    router.add_api_route("/x", endpoint)
    route = router.routes[0]
    assert isinstance(route, APIRoute)
    return route.dependant.query_params[0]._type_adapter


def test_equal_declarations_share_one_adapter() -> None:
    limit = Annotated[int, Query(ge=1, le=1000, description="At most this many")]
    assert query_adapter(limit) is query_adapter(limit)
    same = Annotated[int, Query(ge=1, le=1000, description="At most this many")]
    assert query_adapter(limit) is query_adapter(same)
    assert query_adapter(Literal["a", "b"], "a") is query_adapter(Literal["a", "b"], "a")


def test_different_declarations_keep_their_own() -> None:
    assert query_adapter(int) is not query_adapter(float)
    low, high = Annotated[int, Query(ge=1)], Annotated[int, Query(ge=2)]
    assert query_adapter(low) is not query_adapter(high)
    assert query_adapter(low) is not query_adapter(Annotated[int, Query(ge=True)])
    assert query_adapter(Literal[1]) is not query_adapter(Literal[True], True)
    described = Annotated[int, Query(description="one")]
    assert query_adapter(described) is not query_adapter(Annotated[int, Query(description="two")])
    with pytest.raises(ValidationError):
        query_adapter(Annotated[int, Query(le=5)]).validate_python(6)
    assert query_adapter(Annotated[int, Query(le=6)]).validate_python(6) == 6


def test_names_still_to_resolve_are_never_shared() -> None:
    later: Any = "Later"
    for unresolved in (later, ForwardRef(later), list[ForwardRef(later)], list[later]):  # type: ignore[misc]
        with pytest.raises(_Unshareable):
            _type_key(unresolved)
    assert _type_key(Literal["Later"]) == _type_key(Literal["Later"])
