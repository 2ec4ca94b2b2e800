"""How things look on a text line: "[15:04:05] <alice> hello"."""

from __future__ import annotations

from datetime import datetime, tzinfo

from torbit.core.models import Message, MessageKind

_last_clock: tuple[int, tzinfo | None, str] = (-1, None, "")


def clock(ts: datetime, tz: tzinfo) -> str:
    """HH:MM:SS in tz. Messages arrive in bursts within the same second, so the last answer is
    kept: strftime per message was a visible share of the fan-out path."""
    global _last_clock
    second = int(ts.timestamp())
    last_second, last_tz, text = _last_clock
    if second != last_second or tz is not last_tz:
        text = ts.astimezone(tz).strftime("%H:%M:%S")
        _last_clock = (second, tz, text)
    return text


def format_message(msg: Message, tz: tzinfo) -> str:
    """One line for a message, without line ending. Private messages are marked as such."""
    t = clock(msg.sent_at, tz)
    if msg.kind is MessageKind.ACTION:
        return f"[{t}] * {msg.sender} {msg.text}"
    if msg.kind is MessageKind.NOTICE:
        return f"[{t}] -{msg.sender}- {msg.text}"
    if msg.kind is MessageKind.PRIVATE:
        if msg.channel == "@" + msg.sender_key:
            return f"[{t}] (private to {msg.recipient}) <{msg.sender}> {msg.text}"
        return f"[{t}] (private) <{msg.sender}> {msg.text}"
    return f"[{t}] <{msg.sender}> {msg.text}"


def format_system(text: str) -> str:
    """System lines start with '* ' so they never look like someone speaking."""
    return f"* {text}"


def format_error(text: str) -> str:
    return f"! {text}"
