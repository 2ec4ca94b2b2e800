"""Ban masks without sockets (core/banmasks.py): what parses to which canonical mask, and
matching that agrees with fnmatch's (case-folded, no [ ] classes) on any mask and subject,
including masks built to make a backtracking matcher take exponential time."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torbit.core import events
from torbit.core.banmasks import (
    MAX_MASK_LENGTH,
    CompiledMasks,
    Visitor,
    account_of,
    compile_mask,
    matches,
    parse_mask,
    takes_name,
)
from torbit.core.events import BanMasksChanged, NodeEvent, decode, encode
from torbit.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("bob", None),  # a plain name: that account, as before
        ("Bob!*@*", "bob!*@*"),
        ("ba*", "ba*!*@*"),
        ("b?b", "b?b!*@*"),
        ("x@10.0.0.*", "*!x@10.0.0.*"),
        ("a!b", "a!b@*"),
        ("**!***@*", "*!*@*"),
        ("[Op]!~Id@Host.EXAMPLE", "[op]!~id@host.example"),
    ],
)
def test_masks_parse_to_one_canonical_form(text: str, canonical: str | None) -> None:
    assert parse_mask(text) == canonical


@pytest.mark.parametrize(
    "text", ["", "a b!*@*", "a,b!*@*", "a!b!c@d", "a!b@c@d", "é!*@*", "x" * (MAX_MASK_LENGTH + 1)]
)
def test_what_is_no_mask_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_mask(text)


def test_only_an_exact_name_with_any_address_names_an_account() -> None:
    assert account_of("bob!*@*") == "bob"
    assert account_of("bo*!*@*") is None and account_of("bob!x@*") is None


def test_a_visitor_is_matched_on_nick_user_and_address_whatever_the_case() -> None:
    guest = Visitor("Pest", "~pest", "192.0.2.7")
    assert matches("*!*@192.0.2.?", guest) and matches("pe*!~*@*", guest)
    assert not matches("*!*@192.0.2.70", guest) and not matches("pest!pest@*", guest)
    room = CompiledMasks(("nobody!*@*", "*!*@192.0.2.*"))
    assert room.matching(guest) == "*!*@192.0.2.*"
    assert room.matching(Visitor("ok", "ok", "198.51.100.1")) is None


def test_a_ban_exception_keeps_whoever_matches_it_from_every_ban_mask() -> None:
    room = CompiledMasks(("*!*@192.0.2.*", "pe*!*@*"), exceptions=("pest!*@*",))
    assert room.matching(Visitor("Pest", "~pest", "192.0.2.7")) is None
    assert room.excepted(Visitor("PEST", "x", "198.51.100.1"))
    assert room.matching(Visitor("pet", "~pet", "198.51.100.1")) == "pe*!*@*"
    assert room.matching(Visitor("other", "~o", "192.0.2.8")) == "*!*@192.0.2.*"
    assert not CompiledMasks((), exceptions=("*!*@*",)).matching(Visitor("a", "a", "h"))


def test_an_invite_exception_is_matched_apart_from_the_ban_lists() -> None:
    room = CompiledMasks(("b*!*@*",), invex=("b*!*@192.0.2.*",))
    guest = Visitor("Bob", "~bob", "192.0.2.7")
    assert room.invited(guest) and room.matching(guest) == "b*!*@*"  # no ban exception
    assert not room.invited(Visitor("bob", "~bob", "198.51.100.1"))


def test_a_mask_event_of_an_older_node_is_a_ban_mask() -> None:
    """A node that does not know exceptions sends no `kind`: its masks are ban masks."""
    sent = encode(BanMasksChanged("den", "den", "*!*@*", "alice", True, "e"), "node-a")
    assert decode(sent) == (BanMasksChanged("den", "den", "*!*@*", "alice", True, "e"), "node-a")
    older = sent.replace(', "kind": "e"', "")
    assert decode(older) == (BanMasksChanged("den", "den", "*!*@*", "alice", True), "node-a")


def test_a_pathological_mask_is_answered_without_backtracking_blowup() -> None:
    """`*a*a…*a*b` against a's only: a backtracking translation tries every way to split the
    a's among the stars (about 10^20 here); the atomic groups try each star once."""
    mask = "*" + "a*" * 40 + "b"
    assert not compile_mask(mask).pattern.match("a" * 120)
    assert compile_mask(mask).pattern.match("a" * 120 + "b")


MASK_CHARS = st.sampled_from("ab*?.!@")
SUBJECT_CHARS = st.sampled_from("abAB.!@")


@given(st.text(MASK_CHARS, max_size=12), st.text(SUBJECT_CHARS, max_size=16))
def test_matching_agrees_with_fnmatch(mask: str, subject: str) -> None:
    expected = fnmatch.fnmatchcase(subject.lower(), mask.lower())
    assert (compile_mask(mask.lower()).pattern.match(subject.lower()) is not None) == expected


def test_every_node_event_travels_between_nodes() -> None:
    """An event type `decode` does not know is dropped on every other node: BanMasksChanged
    was, at first, and only the two-node test saw it (tests/scale/test_ban_masks_cluster.py)."""
    kinds = {cls.__name__ for cls in NodeEvent.__subclasses__()}
    assert kinds == {cls.__name__ for cls in events._KINDS.values()}
    event = BanMasksChanged("hall", "Hall", "*!*@192.0.2.*", "alice", True)
    assert decode(encode(event, "node-a")) == (event, "node-a")


@pytest.mark.parametrize(
    ("mask", "taken"),
    [
        ("carol!*@*", True),
        ("c?rol!*@10.0.0.1", True),
        ("c*!*@*", True),
        ("*!*@127.0.0.1", True),  # any nick: hers too
        ("*!carol@*", True),
        ("bob!*@*", False),
        ("carola!*@*", False),
        ("b*!*@127.0.0.1", False),
    ],
)
def test_a_mask_takes_a_name_whatever_the_clients_user_and_address(mask: str, taken: bool) -> None:
    assert takes_name(mask, "Carol") is taken
