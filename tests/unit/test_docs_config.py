"""docs/configuration.md documents every key of config.py, with its default: an operator reads
the table, not the model, so a key added without a row (or a default changed without its row)
fails here rather than in production."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from torbit.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SECTION = re.compile(r"^### `\[(\w+)\]`")
ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|")


def documented(text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the default column, from the key tables of configuration.md."""
    rows: dict[tuple[str, str], str] = {}
    section = None
    for line in text.splitlines():
        if m := SECTION.match(line):
            section = m.group(1)
        elif section and (m := ROW.match(line)):
            rows[(section, m.group(1))] = m.group(2).strip()
    return rows


def defaults() -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        for key, info in model.model_fields.items():
            value = info.default
            out[(section, key)] = (
                list(value)
                if isinstance(value, tuple)
                else str(value)
                if isinstance(value, Path)
                else value
            )
    return out


def literal(cell: str) -> tuple[bool, Any]:
    """The cell's TOML value when it is one in backticks (`"x"`, `5`, `[]`), else (False, None):
    prose such as "a welcome line" is not compared."""
    if not (cell.startswith("`") and cell.endswith("`") and cell.count("`") == 2):
        return False, None
    return True, tomllib.loads("v = " + cell.strip("`"))["v"]


def test_every_key_is_documented_and_every_documented_key_exists() -> None:
    rows, keys = documented(DOC.read_text()), defaults()
    assert sorted(set(keys) - set(rows)) == [], "keys of config.py missing from configuration.md"
    assert sorted(set(rows) - set(keys)) == [], "keys in configuration.md that config.py lacks"


def test_documented_defaults_are_the_defaults() -> None:
    rows, keys = documented(DOC.read_text()), defaults()
    wrong = []
    for key in sorted(set(rows) & set(keys)):
        is_literal, value = literal(rows[key])
        if is_literal and value != keys[key]:
            wrong.append(f"{key[0]}.{key[1]}: doc {rows[key]}, code {keys[key]!r}")
    assert wrong == []


def test_the_parser_sees_a_missing_row_and_a_wrong_default() -> None:
    text = "### `[http]`\n\n| key | type | default | meaning |\n|---|---|---|---|\n"
    text += "| `port` | integer | `8081` | HTTP port |\n"
    rows = documented(text)
    assert rows == {("http", "port"): "`8081`"}
    assert literal(rows[("http", "port")]) == (True, 8081) != (True, defaults()[("http", "port")])
    assert literal("a welcome line") == (False, None)
