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


ROOT = DOC.parents[1]
PROSE = [ROOT / "README.md", ROOT / "torbit.toml", *sorted((ROOT / "docs").glob("*.md"))]
VARIABLE = re.compile(r"\bTORBIT_([A-Z0-9_]+?)__([A-Z0-9_]+)")
DOTTED = re.compile(r"`([a-z_]+)\.([a-z_0-9]+)`")
# named on purpose though no key: the typo and old-section examples, Kafka's broker settings
# (`node.id`, `log.dirs` in server.properties) and IRC's host name
NOT_KEYS = {"telnet.prot", "bus.url", "node.id", "log.dirs", "irc.torbit"}


def test_every_key_the_docs_name_exists() -> None:
    """A key renamed in config.py must not leave `TORBIT_SECTION__KEY` or `section.key` in
    the README, torbit.toml or docs/ naming one that no longer exists (an operator pastes the
    variable and gets exit 2); first57 checked them all by hand."""
    keys = {f"{section}.{key}" for section, key in defaults()}
    sections = set(Settings.model_fields)
    wrong = []
    for path in PROSE:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            named = [f"{s.lower()}.{k.lower()}" for s, k in VARIABLE.findall(line)]
            named += [f"{s}.{k}" for s, k in DOTTED.findall(line) if s in sections]
            wrong += [f"{path.name}:{n}: {name}" for name in named if name not in keys]
    assert [w for w in wrong if w.split(": ")[1] not in NOT_KEYS] == []


def test_the_docs_key_check_sees_a_renamed_key() -> None:
    assert VARIABLE.findall("TORBIT_MESSAGE_LOG__URL=kafka://x") == [("MESSAGE_LOG", "URL")]
    assert DOTTED.findall("see `http.max_body_bytes`") == [("http", "max_body_bytes")]
    assert "http.max_body" not in {f"{s}.{k}" for s, k in defaults()}
