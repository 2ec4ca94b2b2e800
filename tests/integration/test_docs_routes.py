"""Every `METHOD /path` that README.md and docs/*.md name is a route of a running server, by
its OpenAPI document: a client written from the docs must not meet a 404 or 405."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers.http import http_client
from torbit.app import App

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NAMED = re.compile(r"\b(GET|POST|PUT|DELETE|PATCH) +(/[A-Za-z0-9_/{}.-]*)")


def named_routes(text: str) -> set[tuple[str, str]]:
    return {(m.group(1).lower(), m.group(2).rstrip("/.")) for m in NAMED.finditer(text)}


def served(method: str, path: str, spec: dict[str, set[str]]) -> bool:
    """`path` (`/api/v1/rooms/lobby/messages`, `/api/v1/rooms/{room}`) is one of the spec's
    templates with `method`; a bare first segment (`POST /send`, `GET /receive`) is the
    docs' shorthand for its route."""
    parts = path.strip("/").split("/")
    for template, methods in spec.items():
        if method not in methods:
            continue
        want = template.strip("/").split("/")
        if len(parts) == 1 and len(want) > 1 and want[0] == parts[0]:
            return True
        if len(want) == len(parts) and all(
            w == p or (w.startswith("{") and w.endswith("}"))
            for w, p in zip(want, parts, strict=True)
        ):
            return True
    return False


def test_the_matching_tells_a_route_from_a_wrong_one() -> None:
    spec = {"/api/v1/rooms/{room}": {"get", "patch"}, "/send/{room}/{user}": {"post"}}
    assert served("patch", "/api/v1/rooms/lobby", spec)
    assert served("post", "/send", spec)
    assert not served("delete", "/api/v1/rooms/lobby", spec)
    assert not served("get", "/api/v1/rooms/lobby/topic", spec)
    assert named_routes("`PUT /api/v1/me/away`, then GET /healthz.") == {
        ("put", "/api/v1/me/away"),
        ("get", "/healthz"),
    }


async def test_every_route_the_docs_name_is_served(server: App) -> None:
    async with http_client(server) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    spec = {path: set(methods) for path, methods in paths.items()}
    missing = sorted(
        f"{doc.name}: {method.upper()} {path}"
        for doc in DOCS
        for method, path in named_routes(doc.read_text())
        if not served(method, path, spec)
    )
    assert missing == []
