"""Slash-command syntax, sans-IO: splitting `/name args...` and checking the arity a command
declares. Each front door keeps its own table of commands (what they do, who may) and uses
this to parse; nothing here knows about chat rules.

Words are separated by ASCII spaces only, as IRC's are: any other space (a no-break space,
U+3000, a tab) is part of the word or text it is in, so `/join a\u00a0b` names the room
`a\u00a0b` (refused as a name), not room `a` with key `b`, and text keeps what was typed."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Syntax:
    usage: str = ""  # argument synopsis shown in help and errors, e.g. "USER TEXT"
    min_args: int = 0
    max_args: int = 0
    rest: bool = False  # the last argument takes the rest of the line, spaces included


class BadArguments(ValueError):
    """The arguments do not fit the command's syntax."""


def split_command(line: str) -> tuple[str, str]:
    """'/Join  lobby ' -> ('join', 'lobby'): the lower-cased name and the rest, without the
    ASCII spaces around it."""
    head, _, tail = line[1:].partition(" ")
    return head.lower(), tail.strip(" ")


def split_words(tail: str, max_words: int = 0) -> list[str]:
    """`tail` split at runs of ASCII spaces; with `max_words`, the last word is the rest of
    the line, its inner spaces kept ('a  b  c', 2 -> ['a', 'b  c'])."""
    words: list[str] = []
    rest = tail.lstrip(" ")
    while rest:
        if len(words) == max_words - 1:
            words.append(rest.rstrip(" "))
            break
        word, _, rest = rest.partition(" ")
        words.append(word)
        rest = rest.lstrip(" ")
    return words


def parse_args(syntax: Syntax, tail: str) -> tuple[str, ...]:
    """The arguments of a command line's tail; BadArguments if they do not fit."""
    parts = split_words(tail, syntax.max_args if syntax.rest else 0)
    if not syntax.min_args <= len(parts) <= syntax.max_args:
        raise BadArguments(tail)
    return tuple(parts)


HELP_WIDTH = 100  # a help line fits a 100-column terminal or client window


def help_rows(head: str, text: str, width: int = HELP_WIDTH) -> list[str]:
    """`head` (a command and its column's padding) then `text`, broken at spaces into lines
    of at most `width` columns, the later ones indented under the text: a longer line wraps
    wherever the window cuts it, mid-word and flush left."""
    return textwrap.wrap(
        text,
        width,
        initial_indent=head,
        subsequent_indent=" " * len(head),
        break_long_words=False,
        break_on_hyphens=False,
    ) or [head.rstrip()]
