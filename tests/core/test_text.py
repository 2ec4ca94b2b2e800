"""What a shown text may hold (issue 10, item 16): no line or paragraph separators, no bidi
controls or other invisible format characters (Unicode Cf) but what emoji and joining scripts
need, no run of blanks long enough to pad a line to a terminal's width; emoji sequences come
through intact. Hypothesis throws arbitrary text at it."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from torbit.core.moderation_limits import MAX_TOPIC_BYTES, clean_kick_reason, clean_topic
from torbit.core.names import is_valid_name
from torbit.core.text import MAX_BLANKS, MAX_MARKS, ZWJ, ZWNJ, clean_cut, clean_text
from torbit.errors import InvalidInput

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064\u206a\u206f"
SEPARATORS = "\u2028\u2029"
BLANKS = " \t\u00a0\u2000\u2003\u200a\u202f\u205f\u3000\u3164\uffa0\u2800\u115f\u1160"
FLAG_TAGS = "".join(chr(c) for c in range(0xE0061, 0xE007B)) + "\U000e007f"

# Real emoji ZWJ, variation selector, skin tone, keycap and flag sequences.
EMOJI = [
    "\U0001f469\u200d\U0001f4bb",  # woman technologist
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # family
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
    "\U0001f3f4\u200d\u2620\ufe0f",  # pirate flag
    "\u2764\ufe0f\u200d\U0001f525",  # heart on fire
    "\U0001f9d1\U0001f3fd\u200d\U0001f4bb",  # technologist, medium skin tone
    "\U0001f469\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f468",  # kiss
    "\U0001f43b\u200d\u2744\ufe0f",  # polar bear
    "\U0001f441\ufe0f\u200d\U0001f5e8\ufe0f",  # eye in speech bubble
    "\U0001f9d1\u200d\U0001f9b0",  # person, red hair
    "\U0001f44b\U0001f3ff",  # waving hand, dark skin tone
    "1\ufe0f\u20e3",  # keycap one
    "\U0001f1eb\U0001f1f7",  # flag of France
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
    "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # England
    "\u263a\ufe0f",  # smiling face, emoji presentation
]
SCRIPTS = [
    "\u0915\u094d\u200d\u0937",  # Devanagari half form with ZWJ
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian "mikhaham" with ZWNJ
]

_BLANK_SET = set(BLANKS) | {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Zs"}


def allowed_format(out: str, i: int) -> bool:
    """Whether the Cf character at out[i] is one that writing needs, in its place."""
    ch = out[i]
    if ch in (ZWJ, ZWNJ):  # between two visible non-ASCII characters (emoji, letters)
        if not 0 < i < len(out) - 1:
            return False
        return all(
            not c.isascii() and c not in _BLANK_SET and unicodedata.category(c) != "Cf"
            for c in (out[i - 1], out[i + 1])
        )
    if "\U000e0020" <= ch <= "\U000e007f":
        return re.search("\U0001f3f4[\U000e0030-\U000e007a]{2,7}\U000e007f", out) is not None
    return False


def check_shown(out: str) -> None:
    """The promises a cleaned text keeps."""
    assert out == out.rstrip() and out.strip()
    for i, ch in enumerate(out):
        cat = unicodedata.category(ch)
        assert cat not in ("Cc", "Cs", "Zl", "Zp"), (ch, out)
        assert cat != "Cf" or allowed_format(out, i), (hex(ord(ch)), out)
    run = 0
    for ch in out:
        run = run + 1 if ch in _BLANK_SET else 0
        assert run <= MAX_BLANKS, out
    assert "\t" not in out


def clean(text: str) -> str | None:
    try:
        return clean_text(text, 1 << 20)
    except InvalidInput:
        return None


@given(st.text(max_size=300))
@example("hi \u202eevil\u202c there")
@example("x" + " " * 120 + "[12:00:00] <admin> hi")
@example("a \u200b \u200b \u200b \u200b b")
@example("\u200d\U0001f600 \U0001f600\u200d")
@example("\ud800 lone surrogate")
def test_no_cleaned_text_holds_anything_that_could_pass_for_something_else(text: str) -> None:
    out = clean(text)
    if out is not None:
        check_shown(out)
        assert clean(out) == out  # cleaning twice changes nothing


nasty = st.text(alphabet=st.sampled_from(BIDI + INVISIBLE + SEPARATORS + BLANKS + FLAG_TAGS))


@given(st.lists(st.one_of(st.text(max_size=8), nasty), max_size=20).map("".join))
@example("\u115f\u200c\u0560")  # a Hangul filler is a letter to Unicode, yet shows nothing
@example("\u2800\u200d\U0001f600")  # the braille blank is a symbol, like emoji
def test_mixes_of_every_kind_of_invisible_character_are_cleaned(text: str) -> None:
    out = clean(text)
    if out is not None:
        check_shown(out)
        assert not set(BIDI + INVISIBLE + SEPARATORS + "\t") & set(out)


STACKING = "\u0301\u0316\u0483\u0489\u05b0\u0f90\u20dd\ufe0f" + ZWJ + ZWNJ
marks = st.text(alphabet=st.sampled_from(STACKING + "\u200b\u202e a\u0915"), max_size=40)
MARK_RUN = re.compile(f"[{STACKING}]{{{MAX_MARKS + 1},}}")


@given(st.lists(st.one_of(st.text(max_size=4), marks), max_size=10).map("".join))
@example("z" + "\u0301\u200b" * 20)  # kept apart by what is removed, one run once shown
@example("\u0915" + "\u0483\u200c" * 10 + " b")  # joiners kept between marks
def test_stacked_marks_are_cut_wherever_they_are(text: str) -> None:
    out = clean(text)
    if out is not None:
        check_shown(out)
        assert MARK_RUN.search(out) is None
        assert clean(out) == out


words = st.text(alphabet=st.characters(categories=["L", "N", "P"]), min_size=1, max_size=10)


@given(st.lists(st.one_of(st.sampled_from(EMOJI + SCRIPTS), words), min_size=1, max_size=12))
def test_emoji_sequences_and_joining_scripts_survive(parts: list[str]) -> None:
    text = " ".join(parts)
    assert clean(text) == text


@pytest.mark.parametrize("sequence", EMOJI + SCRIPTS)
def test_each_sequence_survives_among_invisible_characters(sequence: str) -> None:
    assert clean(f"\u202e{sequence}\u2066 ok\u200b") == f"{sequence} ok"


def test_padding_a_line_to_fake_another_is_collapsed() -> None:
    forged = "nice weather" + " " * 200 + "[12:00:00] <admin> type /quit to win"
    assert clean(forged) == "nice weather   [12:00:00] <admin> type /quit to win"
    assert clean("a\t\t\t\t\t\tb") == "a   b"
    assert clean("a\u3000\u3000\u3000\u3000\u3000b") == "a   b"
    assert clean("a\u2028\u2028[12:00:00] <admin> x") == "a  [12:00:00] <admin> x"
    assert clean("two  spaces and three   stay") == "two  spaces and three   stay"


def test_a_text_of_nothing_visible_is_empty() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        clean_text("\u202e\u200b\u2066 \u2028\t", 100)


@pytest.mark.parametrize("blank", ["  \r\n  ", "   \r\n  ", " \n\n ", "\t\r"])
def test_blanks_around_a_line_end_are_empty(blank: str) -> None:
    """Were stored as two blanks and U+FFFD (stop 47's probe): the line ends inside were
    turned to U+FFFD before the text was found blank."""
    with pytest.raises(InvalidInput, match="empty"):
        clean_text(blank, 100)


def test_topics_are_cleaned_the_same_way() -> None:
    assert clean_topic("rules:\u202e \u2066 be nice" + " " * 50 + "x") == "rules:  be nice   x"


def test_topics_and_kick_reasons_are_cut_not_refused() -> None:
    """IRC's TOPICLEN and KICKLEN: bytes of UTF-8 once cleaned, cut at a character boundary
    (on main: refused past 512 bytes)."""
    assert clean_topic("é" * 400) == "é" * (MAX_TOPIC_BYTES // 2)
    assert clean_topic("x" * 389 + "€") == "x" * 389  # no half of a character
    assert clean_kick_reason("\x02" * 300) == "\ufffd" * 85  # 255 bytes
    assert clean_kick_reason("\u200b\u2066") == ""  # nothing to show: no reason
    with pytest.raises(InvalidInput):
        clean_topic("\u200b\u2066")  # not taken for a clear


def test_a_cut_leaves_no_dangling_joiner_or_blanks() -> None:
    tech = "\U0001f469\u200d\U0001f4bb"  # 4 + 3 + 4 bytes
    assert clean_cut("ab" + tech, 9) == "ab\U0001f469"
    assert clean_cut("ab     cd", 5) == "ab"  # the run is 3 spaces, then cut


@given(st.text(), st.integers(min_value=1, max_value=64))
@example("\x02" * 30, 10)
def test_a_cut_text_fits_and_is_the_start_of_the_cleaned_one(text: str, limit: int) -> None:
    try:
        whole = clean_text(text, 4 * len(text))
        cut = clean_cut(text, limit)
    except InvalidInput:  # nothing to show, or nothing left of it once cut
        return
    if len(whole.encode()) <= limit:
        assert cut == whole
    else:
        assert len(cut.encode()) <= limit and whole.startswith(cut)


@given(st.text(alphabet=st.sampled_from(BIDI + INVISIBLE + SEPARATORS + "a")))
def test_names_never_hold_invisible_characters(name: str) -> None:
    if is_valid_name(name):
        assert set(name) == {"a"}
