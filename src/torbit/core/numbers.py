"""Numbers as people and clients type them: `str.isdigit` passes "²" and other digits `int`
refuses or reads as something else, and `int` of thousands of digits is slow or refused."""

from __future__ import annotations


def ascii_number(text: str, max_digits: int) -> int | None:
    """`text` as a whole number, if it is 1 to `max_digits` ASCII digits, else None."""
    if not text.isascii() or not text.isdigit() or len(text) > max_digits:
        return None
    return int(text)
