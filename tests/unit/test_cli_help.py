"""`torbit user --help` listed `add`, `passwd` and `del` (and `node --help` listed `drain`) with
their whole docstring, broken where the source lines break: "…--password-stdin). Reserved"
then "names may be given here…" on the next row. Each command listed must have a summary of
one line. And `--version` and `-h` work, as people type them first."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from torbit import __version__
from torbit.cli import app


def _commands(group: TyperGroup, prefix: str) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for name, command in group.commands.items():
        found.append((f"{prefix} {name}", command))
        if isinstance(command, TyperGroup):
            found += _commands(command, f"{prefix} {name}")
    return found


def test_every_command_lists_with_a_one_line_summary() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    listed = _commands(root, "torbit")
    assert len(listed) >= 12
    broken = [name for name, c in listed if "\n" in (c.short_help or c.help or "")]
    assert broken == []


def test_version_and_short_help_options() -> None:
    """`torbit --version` and `torbit -h` answered "No such option" (exit 2)."""
    runner = CliRunner()
    r = runner.invoke(app, ["--version"])
    assert (r.exit_code, r.output.strip()) == (0, __version__)
    for args in (["-h"], ["user", "-h"], ["user", "add", "-h"], ["serve", "-h"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0 and "Usage:" in r.output, args
