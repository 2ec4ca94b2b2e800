"""A text sent over HTTP with a line end at its end (`printf 'hi\\n' | curl --data-binary @-`,
a JSON text read from a file) is the text a telnet or IRC line would be: "hi", not "hi"
followed by U+FFFD, the mark of a control character; a text of line ends only is empty."""

from __future__ import annotations

from tests.helpers.http import basic, error_of, http_client, register
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App


async def test_line_ends_around_a_text_are_not_part_of_it(server: App) -> None:
    async with http_client(server) as http:
        await register(http, "dora", "eli")
        r = await http.post("/send/lobby/dora", content=b"hello from a file\n", auth=basic("dora"))
        assert r.status_code == 201, r.text
        assert r.json()["text"] == "hello from a file"
        r = await http.post(
            "/api/v1/rooms/lobby/messages", json={"text": "\r\nsecond\r\n"}, auth=basic("dora")
        )
        assert r.status_code == 201, r.text
        assert r.json()["text"] == "second"
        r = await http.post("/send/lobby/dora", content=b"\n", auth=basic("dora"))
        error_of(r, 422)
        r = await http.post("/send/lobby/dora", content=b"two\nlines\n", auth=basic("dora"))
        assert r.json()["text"] == "two\ufffdlines"  # inside a text, still a control
        # telnet shows them as it shows a line typed there
        assert server.telnet_port is not None
        eli = await TelnetClient.connect(server.telnet_port)
        await eli.login("eli")
        eli.send("/history 3")
        await eli.expect(r"<dora> hello from a file$")
        await eli.expect(r"<dora> second$")


async def test_http_text_equals_the_telnet_line(server: App) -> None:
    async with http_client(server) as http:
        await register(http, "fay")
        sent = await http.post("/send/lobby/fay", content=b"same\r\n", auth=basic("fay"))
        got = await http.get("/api/v1/rooms/lobby/messages?limit=1", auth=basic("fay"))
    assert sent.json()["text"] == got.json()["messages"][0]["text"] == "same"
