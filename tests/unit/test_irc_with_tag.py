"""`with_tag` and `has_tag` (protocol/irc.py): a tag added to a line already encoded, as
labeled-response adds a client's label and a batch's reference (frontends/irc/labels.py).
Whatever the value, the line stays one line and reads back with that value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from torbit.protocol.irc import Message, MessageReceived, has_tag, parse_line, with_tag

PONG = Message("PONG", ("irc.torbit", "x"), "irc.torbit")


def test_a_tag_goes_in_front_of_a_line_with_or_without_tags() -> None:
    plain = PONG.encode()
    assert with_tag(plain, "label", "a1") == b"@label=a1 " + plain
    tagged = Message("PONG", ("x",), "s", {"time": "t"}).encode()
    assert with_tag(tagged, "batch", "l1") == b"@batch=l1;time=t :s PONG x\r\n"
    assert has_tag(with_tag(tagged, "batch", "l1"), "batch")
    assert not has_tag(tagged, "batch") and not has_tag(plain, "batch")
    assert not has_tag(b"@batchx=1 :s PONG x\r\n", "batch")


@given(st.text(st.characters(blacklist_characters="\0", blacklist_categories=["Cs"])))
def test_any_value_stays_in_its_tag(value: str) -> None:
    line = with_tag(Message("PONG", ("x",), "s", {"time": "t"}).encode(), "label", value)
    assert line.count(b"\r\n") == 1 and line.endswith(b"\r\n")
    event = parse_line(line[:-2])
    assert isinstance(event, MessageReceived)
    assert event.message.command == "PONG" and event.message.params == ("x",)
    assert event.message.tags.get("label", "") == value and event.message.tags["time"] == "t"
