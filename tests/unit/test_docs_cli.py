"""Every `torbit ...` command line the README and docs/*.md show names a command and options
the CLI has: an operator pastes them, and a renamed command or flag must not leave the docs
pointing at one that no longer exists. The `db status` example names the newest schema."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from torbit.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a command as it starts a span or a shell command: `torbit user add NAME [--admin]`,
# `.venv/bin/torbit db status`, `$ TORBIT_X__Y=1 torbit serve`
CALL = re.compile(r"^\s*(?:\$\s+)?(?:[A-Z_]+=\S*\s+)*(?:\S*/)?torbit((?: +[^\s#`]+)+)")
HELP = {"--help", "-h"}
SHELLS = {"", "sh", "bash", "shell", "console"}


def command_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of code spans starting with torbit and of lines in shell blocks
    (not in output, `text`, nor in other programs' configs)."""
    out: list[tuple[int, str]] = []
    block: str | None = None  # the language of the block the line is in
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith("```"):
            block = line.strip()[3:] if block is None else None
            continue
        if block is not None:
            if block in SHELLS:
                out.append((n, line))
        else:
            out.extend(
                (n, span)
                for span in re.findall(r"`([^`]+)`", line)
                if span.startswith(("torbit ", ".venv/bin/torbit "))
            )
    return out


def options(command: Any) -> set[str]:
    return HELP | {o for p in command.params for o in (*p.opts, *getattr(p, "secondary_opts", ()))}


def problems(text: str, where: str) -> list[str]:
    """What each shown command line names that the CLI lacks."""
    root = typer.main.get_command(app)
    found = []
    for n, line in command_lines(text):
        for m in filter(None, map(CALL.match, re.split(r"&&|\|\||[;|(]", line))):
            command, path = root, ["torbit"]
            for word in m.group(1).split():
                flag = word.strip("[]").split("=")[0]
                if flag.startswith("-"):
                    if flag not in options(command):
                        found.append(f"{where}:{n}: {' '.join(path)} has no option {flag}")
                    continue
                subcommands = getattr(command, "commands", None)
                if subcommands is None or not re.fullmatch(r"[a-z][a-z-]*", word):
                    continue  # an argument (NAME, frank) or a placeholder (…)
                if word not in subcommands:
                    found.append(f"{where}:{n}: no command {' '.join([*path, word])}")
                    break
                command = subcommands[word]
                path.append(word)
    return found


def test_every_command_line_in_the_docs_exists() -> None:
    found = [p for doc in DOCS for p in problems(doc.read_text(), doc.name)]
    assert found == []


def test_a_wrong_command_or_flag_is_seen() -> None:
    text = "Run `torbit user add NAME --admin`, then\n\n```sh\n.venv/bin/torbit db status\n```\n"
    assert problems(text, "x") == []
    bad = "`torbit user rename NAME`\n\n```sh\ntorbit user del bob --force\n```\n"
    assert problems(bad, "x") == [
        "x:1: no command torbit user rename",
        "x:4: torbit user del has no option --force",
    ]


def test_the_db_status_example_names_the_newest_schema() -> None:
    """operations.md shows what `torbit db status` prints when up to date: on stage it still
    said `schema 0004` (and Cassandra's `schema 4`) after migrations up to 0011 (12)."""
    from torbit.backends.store.cassandra_schema import MIGRATIONS
    from torbit.backends.store.migrate import head_revision

    text = " ".join((ROOT / "docs" / "operations.md").read_text().split())
    assert f"`schema {head_revision()}: up to date`" in text
    assert f"numbered: `schema {MIGRATIONS[-1].version}`" in text


def test_the_db_status_exit_codes_are_the_commands() -> None:
    """operations.md said exit 1 for "none" while a missing SQLite file exits 2 (and so does
    an unreachable database): a rollout script reads these codes, 1 meaning "upgrade it"."""
    text = " ".join((ROOT / "docs" / "operations.md").read_text().split())
    said = text[text.index("`torbit db status` says") :][:700]
    assert "exit 1 for an older schema, none, or a newer torbit's" in said
    assert "Exit 2 when it cannot tell: a bad config, the database unreachable, or no" in said
    assert "SQLite file where the config points" in said
    readme = (ROOT / "README.md").read_text()
    assert (
        "torbit db status; .venv/bin/torbit db upgrade  # up to date? (1: no, 2: cannot tell)"
        in readme
    )
