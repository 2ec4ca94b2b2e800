"""What text may be shown to others: the one place messages and topics are cleaned."""

from __future__ import annotations

import re

from torbit.errors import InvalidInput, TooLarge

# C0/C1 control characters other than tab: they could drive a terminal (ANSI escapes, bells).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean_text(text: str, max_bytes: int) -> str:
    """A text fit to show: control characters replaced, trailing blanks dropped; empty and
    oversized texts refused."""
    text = _CONTROL.sub("\ufffd", text).rstrip()
    if not text.strip():
        raise InvalidInput("empty message")
    if len(text.encode()) > max_bytes:
        raise TooLarge(f"message too long: at most {max_bytes} bytes")
    return text
