"""Interactive API docs at /docs: Swagger UI from the `swagger-ui-bundle-v2` package, served
by this server. FastAPI's default page loads Swagger UI from a CDN, without integrity
checks, into the origin where the web page keeps its bearer token: whoever controls that
CDN could read the token. Here every script comes from this server, there is no inline
script, and a policy of its own (the page's, plus the data: images Swagger UI's
stylesheet uses) forbids the rest."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# only what the page uses: the bundle's demo page and its settings stay unserved
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API docs</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def docs_router(title: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    page = PAGE.format(title=title)
    policy = {"Content-Security-Policy": DOCS_CSP}

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=policy)

    @router.get("/docs/init.js")
    async def init() -> Response:
        return Response(INIT, media_type="text/javascript", headers=policy)

    @router.get("/docs/assets/{name}")
    async def asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise HTTPException(404)
        return FileResponse(
            swagger_ui_path / name,
            media_type=media_type,
            headers={**policy, "Cache-Control": "public, max-age=86400"},
        )

    return router
