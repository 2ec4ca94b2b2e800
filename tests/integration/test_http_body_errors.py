"""The two mistakes a person makes first with the README's curl lines get errors that say
what to do: JSON sent without `-H 'content-type: application/json'` (curl -d sends a form),
and JSON that does not parse. On main: "body: Input should be a valid dictionary or object
to extract fields from" and "11: JSON decode error". JSON is still required as JSON: a form
post (what any web page may make a browser send) is no way in."""

from __future__ import annotations

from tests.helpers.http import basic, error_of, http_client, register
from torbit.app import App

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


async def test_json_sent_as_a_form_is_told_its_content_type(server: App) -> None:
    async with http_client(server) as http:
        r = await http.post(
            "/api/v1/users", content=b'{"name":"zed","password":"zeds-pw"}', headers=FORM
        )
        said = error_of(r, 422, "invalid_input")
        assert said == (
            "body: a JSON object is expected, sent with content-type: application/json "
            "(this request's content-type: application/x-www-form-urlencoded)"
        )
        r = await http.post("/api/v1/sessions", json={"name": "zed", "password": "zeds-pw"})
        assert r.status_code == 401  # and nothing was registered
        await register(http, "amy")
        r = await http.post(
            "/api/v1/rooms/lobby/messages", content=b'{"text":"hi"}', auth=basic("amy")
        )
        assert "content-type: application/json (this request's content-type: none)" in error_of(
            r, 422
        )


async def test_json_that_does_not_parse_says_where(server: App) -> None:
    async with http_client(server) as http:
        await register(http, "amy")
        r = await http.post(
            "/api/v1/rooms/lobby/messages", content=b'{"text":"x"', headers=JSON, auth=basic("amy")
        )
        said = error_of(r, 422, "invalid_input")
        assert said.startswith("body: invalid JSON at character 11: "), said
        # a JSON object of the wrong shape still gets pydantic's own words
        r = await http.post("/api/v1/rooms/lobby/messages", json={"txt": "x"}, auth=basic("amy"))
        assert error_of(r, 422) == "text: Field required"


async def test_no_body_at_all_is_told_what_to_send(server: App) -> None:
    """`curl -X PUT …/me/away` (the README names the route, not its body) or a POST with no
    `-d`: on main "body: Field required", which does not say that a JSON object is wanted
    (first57). Now the same words as a body sent without its content-type."""
    wanted = "body: a JSON object is expected, sent with content-type: application/json"
    async with http_client(server) as http:
        r = await http.post("/api/v1/users")
        assert error_of(r, 422, "invalid_input") == f"{wanted} (this request has no body)"
        await register(http, "amy")
        r = await http.put("/api/v1/me/away", auth=basic("amy"))
        assert error_of(r, 422, "invalid_input") == f"{wanted} (this request has no body)"
        r = await http.put("/api/v1/me/away", headers=JSON, auth=basic("amy"))  # JSON, empty
        assert error_of(r, 422, "invalid_input") == f"{wanted} (this request has no body)"
