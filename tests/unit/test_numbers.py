from __future__ import annotations

import pytest

from torbit.core.numbers import ascii_number


@pytest.mark.parametrize(
    ("text", "most", "expected"),
    [
        ("0", 1, 0),
        ("042", 3, 42),
        ("1234", 3, None),  # too many digits: not read, not cut
        ("", 5, None),
        ("²", 5, None),  # a digit to `isdigit`, refused by `int`
        ("١٢", 5, None),  # Arabic-Indic digits: `int` would read them as 12
        ("+1", 5, None),
        ("-1", 5, None),
        (" 1", 5, None),
        ("1_000", 9, None),  # `int` would read 1000
    ],
)
def test_only_ascii_digits_up_to_the_bound_are_a_number(
    text: str, most: int, expected: int | None
) -> None:
    assert ascii_number(text, most) == expected
