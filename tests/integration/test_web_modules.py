"""The web page is ES modules served as they are by the page's static route: every module
the page imports is found there, as JavaScript, under the page's security headers, and with
`Cache-Control: no-cache`, so a browser asks again each time (304 when unchanged) and never
puts an upgrade's module beside an old one it kept (their imports would no longer link).
Before, no file said how long to keep it: a browser kept it a tenth of its age unasked."""

from __future__ import annotations

import re

from tests.helpers.http import http_client
from tests.security.test_http_headers import assert_protected
from torbit.app import App
from torbit.frontends.http import WEB_DIR

IMPORT = re.compile(r'^import (?:[^"]* from )?"\./([\w-]+\.js)";$', re.MULTILINE)
MODULE_LINES = 400  # a file past it is asking to be split


async def test_every_module_is_served_as_javascript_and_asked_again(server: App) -> None:
    async with http_client(server) as c:
        page = await c.get("/")
        assert page.headers["cache-control"] == "no-cache"
        entry = re.findall(r'<script type="module" src="([\w-]+\.js)"></script>', page.text)
        assert entry == ["app.js"]
        seen: set[str] = set()
        todo = list(entry)
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            r = await c.get(f"/{name}")
            assert r.status_code == 200, name
            assert r.headers["content-type"].startswith("text/javascript"), name
            assert r.headers["cache-control"] == "no-cache", name
            assert_protected(r)
            again = await c.get(f"/{name}", headers={"If-None-Match": r.headers["etag"]})
            assert again.status_code == 304, name
            assert again.headers["cache-control"] == "no-cache", name
            todo += IMPORT.findall(r.text)
    on_disk = {p.name for p in WEB_DIR.glob("*.js")}
    assert seen == on_disk  # each file imported by the page, none missing from it
    assert len(seen) > 5


def test_each_module_stays_readable() -> None:
    lengths = {p.name: len(p.read_text().splitlines()) for p in WEB_DIR.glob("*.js")}
    assert max(lengths.values()) <= MODULE_LINES, lengths
