"""How things look on a text line: "[15:04:05] <alice> hello"."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache

from torbit.core.models import Message, MessageKind, Room
from torbit.core.names import inbox_channel


@lru_cache(maxsize=8)
def _clock_text(second: int, tz: tzinfo) -> str:
    return datetime.fromtimestamp(second, UTC).astimezone(tz).strftime("%H:%M:%S")


def clock(ts: datetime, tz: tzinfo) -> str:
    """HH:MM:SS in tz. Messages arrive in bursts within the same second, so the answers for
    the last few seconds are cached: strftime per message was a visible share of fan-out."""
    return _clock_text(int(ts.timestamp()), tz)


def format_message(msg: Message, tz: tzinfo) -> str:
    """One line for a message, without line ending. Private messages are marked as such."""
    return format_at(msg, clock(msg.sent_at, tz))


def format_at(msg: Message, t: str) -> str:
    """`format_message` with the message's clock text `t` already made (messages sent
    together share it)."""
    if msg.kind is MessageKind.ACTION:
        return f"[{t}] * {msg.sender} {msg.text}"
    if msg.kind is MessageKind.NOTICE:
        return f"[{t}] -{msg.sender}- {msg.text}"
    if msg.kind is MessageKind.PRIVATE or msg.kind is MessageKind.PRIVATE_NOTICE:
        who = f"<{msg.sender}>" if msg.kind is MessageKind.PRIVATE else f"-{msg.sender}-"
        if msg.channel == inbox_channel(msg.sender_key):
            return f"[{t}] (private to {msg.recipient}) {who} {msg.text}"
        return f"[{t}] (private) {who} {msg.text}"
    return f"[{t}] <{msg.sender}> {msg.text}"


def format_system(text: str) -> str:
    """System lines start with '* ' so they never look like someone speaking."""
    return f"* {text}"


def format_error(text: str) -> str:
    return f"! {text}"


def topic_credit(room: Room, tz: tzinfo) -> str:
    """Who set the room's topic and when, as a line shows it after the topic: " (set by
    alice on 2026-12-02 09:03:04)"; "" when neither is known (no topic, or one set before
    torbit kept them)."""
    if not room.topic or not room.topic_set_by:
        return ""
    at = room.topic_set_at
    when = f" on {at.astimezone(tz).strftime('%Y-%m-%d %H:%M:%S')}" if at is not None else ""
    return f" (set by {room.topic_set_by}{when})"


def counted(n: int, noun: str, plural: str = "") -> str:
    """A count with its noun as people write it, "1 member", "2 members", "0 rooms" (an
    irregular plural given: "2 people"), not "1 member(s)": every door words counts so."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
