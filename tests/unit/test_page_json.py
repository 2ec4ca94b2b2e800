"""The classic `GET /receive` page is encoded without a dict per message (`page_json`): byte
for byte what Starlette's JSONResponse made of `message_json`'s shape, whatever the text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from torbit.core.delivery import message_json, page_json
from torbit.core.models import Message, MessageKind
from torbit.core.names import inbox_channel


def as_json_response(messages: list[Message]) -> bytes:
    return bytes(JSONResponse({"messages": [message_json(m) for m in messages]}).body)


AT = datetime(2026, 12, 2, 16, 5, 7, 123456, tzinfo=UTC)


def test_every_field_and_its_awkward_values_are_encoded_as_before() -> None:
    messages = [
        Message(1, "lobby", "alice", "plain", AT),
        Message(2, "lobby", "bob", 'quotes " and \\ backslash / slash', AT),
        Message(3, "lobby", "bob", "controls \x00\x01\x1f\t\n\r\x7f", AT.replace(microsecond=0)),
        Message(4, "lobby", "célia", "non-ASCII: é ü 日本語 😀 \u2028\u2029", AT),
        Message(5, "lobby", "dave", "waves", AT, kind=MessageKind.ACTION),
        Message(6, inbox_channel("erin"), "dave", "psst", AT, MessageKind.PRIVATE, "erin"),
        Message(7, "lobby", "eve", "an offset", AT.astimezone(timezone(timedelta(hours=2)))),
        Message(2**53 + 1, "r", "f", "", AT, kind=MessageKind.NOTICE),
    ]
    assert page_json(messages) == as_json_response(messages)
    assert page_json([]) == as_json_response([]) == b'{"messages":[]}'


@given(
    st.lists(
        st.tuples(st.text(max_size=40), st.text(min_size=1, max_size=12), st.integers(0, 2**62)),
        max_size=5,
    )
)
def test_any_text_is_encoded_as_before(rows: list[tuple[str, str, int]]) -> None:
    messages = [Message(i, "lobby", sender, text, AT) for text, sender, i in rows]
    assert page_json(messages) == as_json_response(messages)
