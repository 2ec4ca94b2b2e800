"""Slash-command syntax, sans-IO: splitting `/name args...` and checking the arity a command
declares. Each front door keeps its own table of commands (what they do, who may) and uses
this to parse; nothing here knows about chat rules."""

from __future__ import annotations

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
    """'/Join  lobby ' -> ('join', 'lobby'): the lower-cased name and the stripped rest."""
    head, _, tail = line[1:].partition(" ")
    return head.lower(), tail.strip()


def parse_args(syntax: Syntax, tail: str) -> tuple[str, ...]:
    """The arguments of a command line's tail; BadArguments if they do not fit."""
    if syntax.rest and syntax.max_args:
        parts = tail.split(None, syntax.max_args - 1) if tail else []
    else:
        parts = tail.split() if tail else []
    if not syntax.min_args <= len(parts) <= syntax.max_args:
        raise BadArguments(tail)
    return tuple(parts)
