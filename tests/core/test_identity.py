"""The rules for new names: letters or digits at both ends, reserved names in any form, and
skeletons that make names reading alike equal (Unicode TR39 over the confusables that the
confusable-homoglyphs package ships)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torbit.core.identity import DEFAULT_RESERVED_NAMES, NamePolicy, skeleton
from torbit.core.names import NAME_PATTERN


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("alice", "aIice"),  # capital I for l
        ("alice", "a1ice"),  # digit one for l
        ("Alice", "AIice"),
        ("bob", "b0b"),  # zero for o
        ("mary", "rnary"),  # r n for m
        ("john.doe", "john_doe"),  # separators are one
        ("john-doe", "john.doe"),
        ("ALICE", "ALlCE"),
        ("Mary", "rnary"),  # any case of m, as every name compares case-blind
        ("will", "vvill"),  # v v for w
        ("Will", "VVill"),
        ("dave", "clave"),  # c l for d
        ("Dave", "c1ave"),
    ],
)
def test_names_that_read_alike_share_a_skeleton(a: str, b: str) -> None:
    assert skeleton(a) == skeleton(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("alice", "alicia"),
        ("bob", "bobby"),
        ("ann", "anna"),
        ("john.doe", "johndoe"),
        ("mary", "many"),
    ],
)
def test_different_names_keep_different_skeletons(a: str, b: str) -> None:
    assert skeleton(a) != skeleton(b)


def test_new_names_start_and_end_with_a_letter_or_digit() -> None:
    p = NamePolicy()
    for bad in ("alice.", ".alice", "_alice", "alice-", "-", "."):
        assert p.problem(bad) == "a name must start and end with a letter or a digit"
    for good in ("a", "7", "a.b", "j_doe", "x-1"):
        assert p.problem(good) is None


def test_reserved_names_in_any_case_or_lookalike_form() -> None:
    p = NamePolicy()
    for name in ("admin", "ADMIN", "Root", "r00t", "torbit", "T0RBIT", "NickServ", "operator"):
        assert p.problem(name) == f"the name {name!r} is reserved", name
    assert p.problem("admin", allow_reserved=True) is None
    assert NamePolicy([]).problem("admin") is None
    assert NamePolicy(["boss"]).problem("B0SS") == "the name 'B0SS' is reserved"
    assert "root" in DEFAULT_RESERVED_NAMES


@given(st.from_regex(NAME_PATTERN, fullmatch=True))
def test_a_skeleton_is_case_blind_for_letters_that_are_not_confusable(name: str) -> None:
    """Any valid name has a skeleton; names differing only in the case of letters that have
    no confusable (not I, l, O, m) share it."""
    plain = name.translate(str.maketrans("", "", "IilLoOmM01|"))
    assert skeleton(plain.upper()) == skeleton(plain.lower())
    assert len(skeleton(name)) <= 2 * len(name)
